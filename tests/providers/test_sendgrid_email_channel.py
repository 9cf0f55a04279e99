"""Email through the real sendgrid SDK to the loopback stub: what SendGrid would receive."""

from __future__ import annotations

import logging

import pytest

from alerts.channels import ChannelError, OutgoingMessage, SendResult, get_channel
from alerts.channels.base import PersonalizedBatch, Recipient
from alerts.channels.sendgrid import SendGridEmailChannel


def email(to: str, reference: str = "", subject: str = "Level 4: leave now", **kwargs) -> OutgoingMessage:
    return OutgoingMessage(
        channel="email", to=to, subject=subject, body="Go to the airport.", reference=reference, **kwargs
    )


def batch_of(count: int) -> PersonalizedBatch:
    return PersonalizedBatch(
        subject="-name-, leave now",
        body="Dear -name-, go to -place-. Answer: -link-",
        html_body="<p>Dear -name-, go to -place-.</p>",
        recipients=[
            Recipient(
                to=f"citizen{n}@example.org",
                substitutions={
                    "-name-": f"Citizen {n}",
                    "-place-": "the airport",
                    "-link-": f"https://e.example/c/{n}",
                },
                reference=f"delivery:{n}",
                unsubscribe_url=f"https://e.example/u/{n}",
            )
            for n in range(count)
        ],
    )


def test_it_sends_an_email_the_stub_receives_with_sender_subject_and_body(stub_providers):
    result = get_channel("email").send(email("amina@example.org", reference="delivery:7"))

    (request,) = stub_providers.received("email")
    assert request["status"] == 202
    assert request["headers"]["Authorization"] == f"Bearer {stub_providers.sendgrid_api_key}"
    body = request["json"]
    assert body["from"] == {"email": "alerts@embassy.example", "name": "Embassy alerts"}
    assert body["subject"] == "Level 4: leave now"
    assert body["content"] == [{"type": "text/plain", "value": "Go to the airport."}]
    assert body["personalizations"] == [
        {"to": [{"email": "amina@example.org"}], "custom_args": {"reference": "delivery:7"}}
    ]
    assert result.provider_message_id == request["message_id"]


def test_2500_recipients_become_three_requests_of_at_most_1000(stub_providers):
    results = get_channel("email").send_personalized(batch_of(2500))

    requests = stub_providers.received("email")
    assert [r["batch_size"] for r in requests] == [1000, 1000, 500]
    assert len(results) == 2500 and all(isinstance(r, SendResult) for r in results)
    # Each recipient carries the id of the request that carried them.
    assert results[0].provider_message_id == requests[0]["message_id"]
    assert results[1999].provider_message_id == requests[1]["message_id"]
    assert results[2000].provider_message_id == requests[2]["message_id"]
    sent_to = [address for r in requests for address in r["to"]]
    assert sent_to == [f"citizen{n}@example.org" for n in range(2500)]


def test_each_recipient_gets_substitutions_reference_and_one_click_unsubscribe(stub_providers):
    get_channel("email").send_personalized(batch_of(2))

    (request,) = stub_providers.received("email")
    body = request["json"]
    assert body["subject"] == "-name-, leave now"
    assert body["content"][1] == {"type": "text/html", "value": "<p>Dear -name-, go to -place-.</p>"}
    second = body["personalizations"][1]
    assert second["to"] == [{"email": "citizen1@example.org"}]
    assert second["substitutions"]["-name-"] == "Citizen 1"
    assert second["custom_args"] == {"reference": "delivery:1"}
    assert second["headers"] == {
        "List-Unsubscribe": "<https://e.example/u/1>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def test_send_batch_puts_messages_with_the_same_text_in_one_request(stub_providers):
    messages = [
        email("a@example.org", "delivery:1"),
        email("b@example.org", "delivery:2", subject="Level 3"),
        email("c@example.org", "delivery:3"),
    ]

    results = get_channel("email").send_batch(messages)

    requests = stub_providers.received("email")
    assert sorted(r["batch_size"] for r in requests) == [1, 2]
    by_subject = {r["json"]["subject"]: r for r in requests}
    assert by_subject["Level 4: leave now"]["to"] == ["a@example.org", "c@example.org"]
    assert results[0].provider_message_id == results[2].provider_message_id
    assert results[1].provider_message_id == by_subject["Level 3"]["message_id"]


def test_send_batch_carries_each_message_s_unsubscribe_headers(stub_providers):
    get_channel("email").send_batch([email("a@example.org", unsubscribe_url="https://e.example/u/a")])

    (request,) = stub_providers.received("email")
    assert request["json"]["personalizations"][0]["headers"]["List-Unsubscribe"] == "<https://e.example/u/a>"


@pytest.mark.django_db
def test_the_outbox_renders_a_personalized_batch_one_message_each(settings):
    from alerts.models import OutboxMessage

    settings.EMAIL_BACKEND_NAME = "outbox"

    results = get_channel("email").send_personalized(batch_of(3))

    assert len(results) == 3 and all(isinstance(r, SendResult) for r in results)
    stored = OutboxMessage.objects.get(to="citizen2@example.org")
    assert stored.subject == "Citizen 2, leave now"
    assert stored.body == "Dear Citizen 2, go to the airport. Answer: https://e.example/c/2"
    assert stored.html_body == "<p>Dear Citizen 2, go to the airport.</p>"
    assert stored.reference == "delivery:2"
    assert stored.headers["List-Unsubscribe"] == "<https://e.example/u/2>"
    assert stored.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_substituted_value_is_not_substituted_again():
    batch = PersonalizedBatch(
        subject="x",
        body="-a- and -b-",
        recipients=[Recipient(to="a@example.org", substitutions={"-a-": "-b-", "-b-": "B"})],
    )

    assert batch.render(batch.recipients[0]).body == "-b- and B"


@pytest.mark.parametrize(
    ("status", "permanent", "account"), [(400, True, False), (413, True, False), (401, False, True), (403, False, True)]
)
def test_refusals_of_the_request_are_permanent_and_of_our_account_pause(stub_providers, status, permanent, account):
    # 401/403 refuse our API key or sender, not the message: the channel pauses instead
    # (tests/pipeline/test_channel_pause.py).
    stub_providers.fail_next(1, api="email", http_status=status)

    results = get_channel("email").send_personalized(batch_of(3))

    assert all(isinstance(r, ChannelError) and r.permanent is permanent and r.account is account for r in results)
    assert {r.code for r in results} == {str(status)}


def test_an_invalid_request_refused_by_the_stub_itself_is_permanent(stub_providers):
    with pytest.raises(ChannelError) as caught:
        get_channel("email").send(email("not-an-address"))

    assert caught.value.permanent is True
    assert caught.value.code == "400"
    assert "personalizations.0.to.0.email" in caught.value.message


def test_too_many_requests_is_transient_and_keeps_retry_after(stub_providers):
    stub_providers.fail_next(1, api="email", http_status=429, retry_after=12)

    with pytest.raises(ChannelError) as caught:
        get_channel("email").send(email("a@example.org"))

    assert caught.value.permanent is False
    assert caught.value.retry_after == 12


@pytest.mark.parametrize("status", [500, 503])
def test_server_faults_are_transient(stub_providers, status):
    stub_providers.fail_next(1, api="email", http_status=status)

    with pytest.raises(ChannelError) as caught:
        get_channel("email").send(email("a@example.org"))

    assert caught.value.permanent is False
    assert caught.value.code == str(status)


def test_a_timeout_is_transient(stub_providers, settings):
    settings.PROVIDER_TIMEOUT_SECONDS = 0.2
    stub_providers.fail_next(1, api="email", http_status=500, latency_ms=1000)

    with pytest.raises(ChannelError) as caught:
        get_channel("email").send(email("a@example.org"))

    assert caught.value.permanent is False
    assert caught.value.code == "timeout"


def test_a_refused_connection_is_transient(stub_providers, settings):
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings.SENDGRID_API_BASE_URL = f"http://127.0.0.1:{port}"

    with pytest.raises(ChannelError) as caught:
        get_channel("email").send(email("a@example.org"))

    assert caught.value.permanent is False
    assert caught.value.code == "connection"


def test_a_connection_lost_before_the_answer_is_an_unclear_outcome(stub_providers):
    # SendGrid took the request, then the connection dropped: the pipeline must not
    # send it again, so this is "answer" (as unclear as a timeout), not "connection".
    stub_providers.fail_next(1, api="email", lose_answer=True)

    with pytest.raises(ChannelError) as caught:
        get_channel("email").send(email("a@example.org"))

    assert caught.value.permanent is False
    assert caught.value.code == "answer"
    [record] = stub_providers.received("email")
    assert record["status"] == 202 and record["answer_lost"] is True


def test_a_failed_request_fails_only_its_own_recipients(stub_providers):
    stub_providers.fail_next(1, api="email", http_status=503, to="citizen1500@example.org")

    results = get_channel("email").send_personalized(batch_of(2500))

    assert all(isinstance(r, SendResult) for r in results[:1000] + results[2000:])
    assert all(isinstance(r, ChannelError) and not r.permanent for r in results[1000:2000])


def test_no_address_or_text_reaches_the_logs(stub_providers, caplog):
    caplog.set_level(logging.DEBUG)
    stub_providers.fail_next(1, api="email", http_status=400)

    get_channel("email").send_batch([email("amina@example.org"), email("omar@example.org", subject="other")])

    assert "example.org" not in caplog.text
    assert "Go to the airport" not in caplog.text
    assert "sendgrid" in caplog.text


def test_it_refuses_to_start_without_an_api_key(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.SENDGRID_API_KEY = ""
    with pytest.raises(ImproperlyConfigured):
        SendGridEmailChannel()


def test_one_bad_address_fails_alone_and_the_others_are_sent(stub_providers):
    batch = batch_of(5)
    bad = Recipient(to="not-an-address", reference="delivery:bad")
    batch = PersonalizedBatch(
        subject=batch.subject, body=batch.body, recipients=[*batch.recipients[:2], bad, *batch.recipients[2:]]
    )

    results = get_channel("email").send_personalized(batch)

    assert isinstance(results[2], ChannelError) and results[2].permanent
    assert all(isinstance(r, SendResult) for i, r in enumerate(results) if i != 2)
    refused, accepted = stub_providers.received("email")
    assert (refused["status"], refused["batch_size"]) == (400, 6)
    assert (accepted["status"], accepted["batch_size"]) == (202, 5)
    assert "not-an-address" not in accepted["to"]
