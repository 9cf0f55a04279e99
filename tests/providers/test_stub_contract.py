"""The stub answers as the providers' published OpenAPI descriptions say they answer.

Requests are made over plain HTTP (not through our channels) and checked, together with
the answers, by openapi-core against ../shared/contracts. Twilio's description lists
no error answers; those are checked against the error body Twilio documents
(``{code, message, more_info, status}``). What our channels send is checked against the
same descriptions' request schemas.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import jsonschema
import pytest
import requests
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from alerts.channels import OutgoingMessage, get_channel
from alerts.channels.base import PersonalizedBatch, Recipient

# The shared contracts folder beside this repository (../shared/contracts), as CI's clean clone has it.
CONTRACTS = Path(__file__).resolve().parents[2].parent / "shared" / "contracts"
TWILIO_HOST = "https://api.twilio.com"
SENDGRID_HOST = "https://api.sendgrid.com"
# Twilio's documented error body (https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions).
TWILIO_ERROR = {
    "type": "object",
    "required": ["code", "message", "more_info", "status"],
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string", "minLength": 1},
        "more_info": {"type": "string", "pattern": r"^https://www\.twilio\.com/docs/errors/\d+$"},
        "status": {"type": "integer"},
    },
}


@pytest.fixture(scope="module")
def twilio_spec() -> OpenAPI:
    # The description is 1.9 MB: skip checking the description itself, keep checking against it.
    return OpenAPI.from_dict(
        json.loads((CONTRACTS / "twilio_api_v2010.json").read_text()), config=Config(spec_validator_cls=None)
    )


@pytest.fixture(scope="module")
def sendgrid_raw() -> dict:
    return json.loads((CONTRACTS / "sendgrid_mail_v3.json").read_text())


@pytest.fixture(scope="module")
def sendgrid_spec(sendgrid_raw) -> OpenAPI:
    return OpenAPI.from_dict(sendgrid_raw)


@dataclass
class ContractRequest:
    """An HTTP request as openapi-core reads it, placed on the provider's real host."""

    host_url: str
    path: str
    method: str
    parameters: RequestParameters
    content_type: str
    body: bytes | None

    @classmethod
    def of(cls, host: str, response: requests.Response) -> ContractRequest:
        sent = response.request
        url = urlsplit(sent.url)
        query: dict[str, list[str]] = {}
        for key, value in _pairs(url.query):
            query.setdefault(key, []).append(value)
        body = sent.body.encode() if isinstance(sent.body, str) else sent.body
        return cls(
            host_url=host,
            path=url.path,
            method=sent.method.lower(),
            parameters=RequestParameters(
                query=ImmutableMultiDict(query), header=Headers(dict(sent.headers)), cookie=ImmutableMultiDict()
            ),
            content_type=sent.headers.get("Content-Type", ""),
            body=body,
        )


def _pairs(query: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(query, keep_blank_values=True)


@dataclass
class ContractResponse:
    status_code: int
    data: bytes
    content_type: str
    headers: Headers

    @classmethod
    def of(cls, response: requests.Response) -> ContractResponse:
        return cls(
            status_code=response.status_code,
            data=response.content,
            content_type=response.headers.get("Content-Type", ""),
            headers=Headers(dict(response.headers)),
        )


def check(spec: OpenAPI, host: str, response: requests.Response) -> None:
    request = ContractRequest.of(host, response)
    spec.validate_request(request)
    spec.validate_response(request, ContractResponse.of(response))


# --- Twilio ------------------------------------------------------------------------------


def messages_url(stub) -> str:
    return f"{stub.url}/2010-04-01/Accounts/{stub.twilio_account_sid}/Messages.json"


def twilio_auth(stub) -> tuple[str, str]:
    return (stub.twilio_account_sid, stub.twilio_auth_token)


def create(stub, **fields) -> requests.Response:
    data = {"To": "+447700900123", "Body": "Leave now.", "MessagingServiceSid": "MG" + "1" * 32, **fields}
    data = {name: value for name, value in data.items() if value is not None}  # None: leave the field out
    return requests.post(messages_url(stub), data=data, auth=twilio_auth(stub), timeout=5)


def test_a_created_message_matches_the_message_schema(provider_stub, twilio_spec):
    response = create(provider_stub, StatusCallback="https://alerts.embassy.example/hooks/twilio/status/?ref=d:1")

    assert response.status_code == 201
    check(twilio_spec, TWILIO_HOST, response)
    body = response.json()
    assert body["sid"].startswith("SM") and len(body["sid"]) == 34
    assert body["status"] == "accepted"  # a Messaging Service picks the sender later
    assert body["to"] == "+447700900123"


def test_a_message_sent_from_a_number_is_queued_and_matches_the_schema(provider_stub, twilio_spec):
    response = create(provider_stub, MessagingServiceSid=None, From="+15005550006")

    assert response.status_code == 201
    check(twilio_spec, TWILIO_HOST, response)
    assert response.json()["status"] == "queued"
    assert response.json()["from"] == "+15005550006"


def test_fetching_a_message_matches_the_schema(provider_stub, twilio_spec):
    sid = create(provider_stub).json()["sid"]

    url = f"{provider_stub.url}/2010-04-01/Accounts/{provider_stub.twilio_account_sid}/Messages/{sid}.json"
    response = requests.get(url, auth=twilio_auth(provider_stub), timeout=5)

    assert response.status_code == 200
    check(twilio_spec, TWILIO_HOST, response)
    assert response.json()["sid"] == sid


def test_listing_by_number_and_date_sent_matches_the_schema_and_pages(provider_stub, twilio_spec):
    provider_stub.configure(sent_after_ms=0, final_after_ms=0)
    for _ in range(3):
        create(provider_stub)
    create(provider_stub, To="+447700900999")

    params = {"To": "+447700900123", "DateSent>": datetime(2020, 1, 1, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    first = requests.get(
        messages_url(provider_stub), params={**params, "PageSize": 2}, auth=twilio_auth(provider_stub), timeout=5
    )

    assert first.status_code == 200
    check(twilio_spec, TWILIO_HOST, first)
    page = first.json()
    assert len(page["messages"]) == 2 and {m["to"] for m in page["messages"]} == {"+447700900123"}
    second = requests.get(provider_stub.url + page["next_page_uri"], auth=twilio_auth(provider_stub), timeout=5)
    check(twilio_spec, TWILIO_HOST, second)
    assert len(second.json()["messages"]) == 1 and second.json()["next_page_uri"] is None

    later = requests.get(
        messages_url(provider_stub), params={"DateSent>": "2999-01-01"}, auth=twilio_auth(provider_stub), timeout=5
    )
    assert later.json()["messages"] == []


@pytest.mark.parametrize(
    ("inject", "status", "code"),
    [
        ({"twilio_code": 21211}, 400, 21211),
        ({"twilio_code": 21610}, 400, 21610),
        ({"twilio_code": 21614}, 400, 21614),
        ({"twilio_code": 20429, "retry_after": 3}, 429, 20429),
        ({"http_status": 500}, 500, 20500),
        ({"http_status": 503}, 503, 20503),
    ],
)
def test_injected_errors_use_twilio_s_error_body_and_status(provider_stub, inject, status, code):
    provider_stub.fail_next(1, **inject)

    response = create(provider_stub)

    assert response.status_code == status
    jsonschema.validate(response.json(), TWILIO_ERROR)
    assert response.json()["code"] == code and response.json()["status"] == status
    if "retry_after" in inject:
        assert response.headers["Retry-After"] == "3"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"To": "07700 900123"}, 21211),
        ({"To": ""}, 21604),
        ({"Body": ""}, 21602),
        ({"MessagingServiceSid": None}, 21603),
        ({"Body": "x" * 1601}, 21617),
    ],
)
def test_invalid_requests_are_refused_as_twilio_refuses_them(provider_stub, fields, code):
    response = create(provider_stub, **fields)

    assert response.status_code == 400
    jsonschema.validate(response.json(), TWILIO_ERROR)
    assert response.json()["code"] == code
    assert provider_stub.received("sms")[0]["status"] == 400


def test_wrong_credentials_are_refused_with_20003(provider_stub):
    response = requests.post(
        messages_url(provider_stub), data={"To": "+447700900123"}, auth=("AC" + "0" * 32, "x"), timeout=5
    )

    assert response.status_code == 401
    jsonschema.validate(response.json(), TWILIO_ERROR)
    assert response.json()["code"] == 20003


def test_an_unknown_message_is_404_with_20404(provider_stub):
    url = f"{provider_stub.url}/2010-04-01/Accounts/{provider_stub.twilio_account_sid}/Messages/SM{'0' * 32}.json"
    response = requests.get(url, auth=twilio_auth(provider_stub), timeout=5)

    assert response.status_code == 404
    jsonschema.validate(response.json(), TWILIO_ERROR)
    assert response.json()["code"] == 20404


def test_what_our_sms_channel_sends_matches_the_create_request_schema(stub_providers, twilio_spec):
    get_channel("sms").send(
        OutgoingMessage(channel="sms", to="+447700900123", body="Leave now.", reference="delivery:1")
    )

    (record,) = stub_providers.received("sms")
    request = ContractRequest(
        host_url=TWILIO_HOST,
        path=record["path"],
        method="post",
        parameters=RequestParameters(
            query=ImmutableMultiDict(), header=Headers(record["headers"]), cookie=ImmutableMultiDict()
        ),
        content_type=record["headers"]["Content-Type"],
        body=urlencode(record["form"]).encode(),
    )
    twilio_spec.validate_request(request)


# --- SendGrid ------------------------------------------------------------------------------


def mail(**changes) -> dict:
    body = {
        "personalizations": [{"to": [{"email": "amina@example.org"}], "custom_args": {"reference": "delivery:1"}}],
        "from": {"email": "alerts@embassy.example", "name": "Embassy alerts"},
        "subject": "Leave now",
        "content": [{"type": "text/plain", "value": "Go to the airport."}],
    }
    body.update(changes)
    return body


def post_mail(stub, body, key: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {key or stub.sendgrid_api_key}"}
    return requests.post(f"{stub.url}/v3/mail/send", json=body, headers=headers, timeout=5)


def test_an_accepted_mail_is_202_with_an_empty_body_and_a_message_id(provider_stub, sendgrid_spec):
    response = post_mail(provider_stub, mail())

    assert response.status_code == 202
    assert response.content == b""
    assert len(response.headers["X-Message-Id"]) == 22
    check(sendgrid_spec, SENDGRID_HOST, response)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"personalizations": []}, "personalizations"),
        ({"personalizations": [{"to": [{"email": f"c{n}@example.org"}]} for n in range(1001)]}, "personalizations"),
        ({"personalizations": [{"to": [{"email": "not-an-address"}]}]}, "personalizations.0.to.0.email"),
        ({"from": {"name": "nobody"}}, "from.email"),
        ({"subject": ""}, "subject"),
        ({"content": []}, "content"),
        (
            {"content": [{"type": "text/html", "value": "<p>x</p>"}, {"type": "text/plain", "value": "x"}]},
            "content.0.type",
        ),
    ],
)
def test_an_invalid_mail_is_400_with_sendgrid_s_error_body(provider_stub, sendgrid_spec, changes, field):
    response = post_mail(provider_stub, mail(**changes))

    assert response.status_code == 400
    fields = [e.get("field") for e in response.json()["errors"]]
    assert field in fields
    sendgrid_spec.validate_response(ContractRequest.of(SENDGRID_HOST, response), ContractResponse.of(response))


def test_a_wrong_key_is_401(provider_stub, sendgrid_spec):
    response = post_mail(provider_stub, mail(), key="SG.wrong")

    assert response.status_code == 401
    sendgrid_spec.validate_response(ContractRequest.of(SENDGRID_HOST, response), ContractResponse.of(response))


@pytest.mark.parametrize("status", [400, 403, 413, 500])
def test_injected_errors_match_the_described_error_answers(provider_stub, sendgrid_spec, status):
    provider_stub.fail_next(1, api="email", http_status=status)

    response = post_mail(provider_stub, mail())

    assert response.status_code == status
    check(sendgrid_spec, SENDGRID_HOST, response)


@pytest.mark.parametrize("status", [429, 503])
def test_errors_the_description_omits_still_use_its_error_body(provider_stub, sendgrid_raw, status):
    provider_stub.fail_next(1, api="email", http_status=status, retry_after=5)

    response = post_mail(provider_stub, mail())

    assert response.status_code == status
    schema = {
        **sendgrid_raw["components"]["schemas"]["ErrorResponse"],
        "$schema": "https://json-schema.org/draft/2020-12/schema",
    }
    jsonschema.validate(response.json(), schema)
    assert response.json()["errors"]


def test_what_our_email_channel_sends_matches_the_mail_send_request_schema(stub_providers, sendgrid_spec):
    batch = PersonalizedBatch(
        subject="-name-, leave now",
        body="Dear -name-",
        html_body="<p>Dear -name-</p>",
        recipients=[
            Recipient(
                to=f"c{n}@example.org",
                substitutions={"-name-": f"C{n}"},
                reference=f"delivery:{n}",
                unsubscribe_url=f"https://e.example/u/{n}",
            )
            for n in range(5)
        ],
    )
    get_channel("email").send_personalized(batch)

    (record,) = stub_providers.received("email")
    request = ContractRequest(
        host_url=SENDGRID_HOST,
        path="/v3/mail/send",
        method="post",
        parameters=RequestParameters(
            query=ImmutableMultiDict(), header=Headers(record["headers"]), cookie=ImmutableMultiDict()
        ),
        content_type="application/json",
        body=json.dumps(record["json"]).encode(),
    )
    sendgrid_spec.validate_request(request)
