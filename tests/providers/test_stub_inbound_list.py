"""The stub lists inbound SMS "received while our webhook was down" as Twilio's published
description says: the Messages list resource with To, DateSent</>, PageSize, Page and
PageToken, its ListMessageResponse, newest first; held by a test through ``/_stub/inbound``
or ``receive_sms``. Requests and answers are checked by openapi-core against
../shared/contracts, as in test_stub_contract.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jsonschema
import pytest
import requests

from tests.providers.test_stub_contract import (
    TWILIO_ERROR,
    TWILIO_HOST,
    check,
    create,
    messages_url,
    twilio_auth,
    twilio_spec,  # noqa: F401 (the fixture)
)

OURS = "+15005550006"
AT = "%Y-%m-%dT%H:%M:%SZ"


def hold(stub, from_: str, body: str, minutes_ago: float, **fields) -> requests.Response:  # type: ignore[no-untyped-def]
    sent = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    data = {"from": from_, "to": OURS, "body": body, "date_sent": sent.strftime(AT), **fields}
    return requests.post(f"{stub.url}/_stub/inbound", json=data, timeout=5)


def listing(stub, **params) -> requests.Response:  # type: ignore[no-untyped-def]
    return requests.get(messages_url(stub), params=params, auth=twilio_auth(stub), timeout=5)


def test_inbound_messages_are_listed_newest_first_by_date_sent_and_match_the_schema(provider_stub, twilio_spec):  # noqa: F811
    held = [hold(provider_stub, f"+4477009000{n:02d}", "SAFE", minutes_ago) for n, minutes_ago in enumerate((5, 30, 1))]
    assert [r.status_code for r in held] == [201, 201, 201]

    response = listing(provider_stub, To=OURS, PageSize=50)

    assert response.status_code == 200
    check(twilio_spec, TWILIO_HOST, response)
    messages = response.json()["messages"]
    assert [m["from"] for m in messages] == ["+447700900002", "+447700900000", "+447700900001"]
    first = messages[0]
    assert first["direction"] == "inbound" and first["status"] == "received" and first["to"] == OURS
    assert first["body"] == "SAFE" and first["sid"] == held[2].json()["sid"]
    assert first["date_sent"].endswith("+0000") and first["error_code"] is None


def test_date_sent_filters_are_inclusive_to_the_second_and_combine(provider_stub, twilio_spec):  # noqa: F811
    now = datetime.now(UTC).replace(microsecond=0)
    for n, minutes in enumerate((40, 20, 10, 2)):
        provider_stub.receive_sms(f"+4477009001{n:02d}", OURS, "NEED", sent_at=now - timedelta(minutes=minutes))

    response = listing(
        provider_stub,
        To=OURS,
        **{
            "DateSent>": (now - timedelta(minutes=20)).strftime(AT),
            "DateSent<": (now - timedelta(minutes=10)).strftime(AT),
        },
    )

    check(twilio_spec, TWILIO_HOST, response)
    assert [m["from"] for m in response.json()["messages"]] == ["+447700900102", "+447700900101"]


def test_inbound_and_outbound_share_the_list_and_to_and_from_filter_them(provider_stub, twilio_spec):  # noqa: F811
    provider_stub.configure(sent_after_ms=0, final_after_ms=0)
    create(provider_stub, To="+447700900555")  # an outbound message to a citizen
    provider_stub.receive_sms("+447700900555", OURS, "LEFT", sent_at=datetime.now(UTC) - timedelta(seconds=5))

    to_us = listing(provider_stub, To=OURS)
    from_them = listing(provider_stub, From="+447700900555")
    everything = listing(provider_stub)

    for response in (to_us, from_them, everything):
        check(twilio_spec, TWILIO_HOST, response)
    assert [m["direction"] for m in to_us.json()["messages"]] == ["inbound"]
    assert [m["direction"] for m in from_them.json()["messages"]] == ["inbound"]
    assert sorted(m["direction"] for m in everything.json()["messages"]) == ["inbound", "outbound-api"]


def test_pages_follow_next_page_uri_with_page_and_page_token(provider_stub, twilio_spec):  # noqa: F811
    for n in range(5):
        provider_stub.receive_sms(f"+4477009002{n:02d}", OURS, "SAFE", sent_at=datetime.now(UTC) - timedelta(minutes=n))

    pages, url, params = [], messages_url(provider_stub), {"To": OURS, "PageSize": 2}
    while url:
        response = requests.get(url, params=params, auth=twilio_auth(provider_stub), timeout=5)
        check(twilio_spec, TWILIO_HOST, response)
        body = response.json()
        pages.append(body)
        url, params = (provider_stub.url + body["next_page_uri"] if body["next_page_uri"] else None), None

    assert [len(p["messages"]) for p in pages] == [2, 2, 1]
    assert [p["page"] for p in pages] == [0, 1, 2] and all(p["page_size"] == 2 for p in pages)
    assert "PageToken=PA1" in pages[0]["next_page_uri"] and "To=%2B15005550006" in pages[0]["next_page_uri"]
    assert pages[1]["previous_page_uri"] and pages[0]["previous_page_uri"] is None
    senders = [m["from"] for p in pages for m in p["messages"]]
    assert senders == [f"+4477009002{n:02d}" for n in range(5)]  # newest first, none twice


def test_a_held_message_is_fetched_by_its_sid(provider_stub, twilio_spec):  # noqa: F811
    sid = hold(provider_stub, "+447700900301", "STOP", 3).json()["sid"]

    url = f"{provider_stub.url}/2010-04-01/Accounts/{provider_stub.twilio_account_sid}/Messages/{sid}.json"
    response = requests.get(url, auth=twilio_auth(provider_stub), timeout=5)

    check(twilio_spec, TWILIO_HOST, response)
    assert response.json()["direction"] == "inbound" and response.json()["body"] == "STOP"


def test_a_list_failure_asked_for_uses_twilio_s_error_body_and_leaves_sending_alone(provider_stub):
    provider_stub.fail_next(1, api="sms-list", http_status=503)

    assert create(provider_stub).status_code == 201  # sending is not what fails
    failed = listing(provider_stub, To=OURS)
    after = listing(provider_stub, To=OURS)

    assert failed.status_code == 503
    jsonschema.validate(failed.json(), TWILIO_ERROR)
    assert failed.json()["code"] == 20503 and after.status_code == 200


def test_the_list_needs_the_account_s_credentials(provider_stub):
    response = requests.get(messages_url(provider_stub), auth=("AC" + "0" * 32, "x"), timeout=5)

    assert response.status_code == 401 and response.json()["code"] == 20003


@pytest.mark.parametrize(
    "fields",
    [
        {"from": "0770 0900123"},  # not E.164
        {"to": ""},
        {"date_sent": "yesterday"},
        {"date_sent": "2026-01-01T10:00:00"},  # no time zone
        {"sid": "not-a-sid"},
        {"status": "delivered"},  # inbound messages are received or receiving
        {"colour": "blue"},  # unknown field
    ],
)
def test_nonsense_held_messages_are_refused(provider_stub, fields):
    response = hold(provider_stub, "+447700900123", "SAFE", 1, **fields)

    assert response.status_code == 400
    assert listing(provider_stub).json()["messages"] == []
