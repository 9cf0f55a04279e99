"""The stub's status callbacks and event posts arrive signed, as the providers sign them."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import pytest
from sendgrid.helpers.eventwebhook import EventWebhook
from twilio.request_validator import RequestValidator

from alerts.channels import OutgoingMessage, get_channel
from alerts.channels.base import PersonalizedBatch, Recipient


def sms(to: str, reference: str) -> OutgoingMessage:
    return OutgoingMessage(channel="sms", to=to, body="Leave now.", reference=reference)


def test_twilio_posts_sent_then_delivered_signed_for_the_url_it_calls(stub_providers, callback_receiver, settings):
    settings.PUBLIC_BASE_URL = "https://alerts.embassy.example"
    stub_providers.configure(callback_base=callback_receiver.url, sent_after_ms=10, final_after_ms=30)

    result = get_channel("sms").send(sms("+447700900123", "delivery:42"))

    received = callback_receiver.wait_for(2)
    assert [dict(parse_qsl(c.body.decode()))["MessageStatus"] for c in received] == ["sent", "delivered"]
    validator = RequestValidator(stub_providers.twilio_auth_token)
    for callback in received:
        assert callback.path == "/hooks/twilio/status/?ref=delivery:42"
        fields = dict(parse_qsl(callback.body.decode()))
        assert fields["MessageSid"] == result.provider_message_id
        assert fields["To"] == "+447700900123"
        assert fields["AccountSid"] == stub_providers.twilio_account_sid
        assert "ErrorCode" not in fields
        url = callback_receiver.url + callback.path
        assert validator.validate(url, fields, callback.headers["X-Twilio-Signature"])
        assert not validator.validate(
            url, {**fields, "MessageStatus": "failed"}, callback.headers["X-Twilio-Signature"]
        )


def test_twilio_reports_an_undelivered_message_with_its_error_code(stub_providers, callback_receiver):
    stub_providers.configure(
        callback_base=callback_receiver.url,
        sent_after_ms=5,
        final_after_ms=10,
        sms_outcomes={"+447700900999": {"status": "undelivered", "error_code": 30005}},
    )

    get_channel("sms").send_batch([sms("+447700900123", "delivery:1"), sms("+447700900999", "delivery:2")])

    received = callback_receiver.wait_for(4)
    finals = {f["To"]: f for f in (dict(parse_qsl(c.body.decode())) for c in received) if f["MessageStatus"] != "sent"}
    assert finals["+447700900123"]["MessageStatus"] == "delivered"
    assert finals["+447700900999"]["MessageStatus"] == "undelivered"
    assert finals["+447700900999"]["ErrorCode"] == "30005"


def test_the_stored_message_moves_to_its_final_status_for_look_ups(stub_providers, settings):
    from twilio.rest import Client

    stub_providers.configure(sent_after_ms=5, final_after_ms=10, sms_final_status="failed", sms_error_code=30008)
    result = get_channel("sms").send(sms("+447700900123", "delivery:1"))
    client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN)
    client.api.base_url = settings.TWILIO_API_BASE_URL

    stub_providers.state.wait_for(lambda s: False, 0.05)
    fetched = client.messages(result.provider_message_id).fetch()

    assert fetched.status == "failed"
    assert fetched.error_code == 30008
    assert fetched.date_sent is not None


def test_sendgrid_posts_processed_then_delivered_events_signed_with_its_key(
    stub_providers, callback_receiver, settings
):
    stub_providers.configure(
        callback_base=callback_receiver.url,
        sent_after_ms=5,
        final_after_ms=10,
        email_outcomes={"citizen1@example.org": "bounce"},
    )
    batch = PersonalizedBatch(
        subject="Leave",
        body="Leave now.",
        recipients=[Recipient(to=f"citizen{n}@example.org", reference=f"delivery:{n}") for n in range(3)],
    )

    results = get_channel("email").send_personalized(batch)

    processed, final = callback_receiver.wait_for(2)
    verifier = EventWebhook()
    key = verifier.convert_public_key_to_ecdsa(settings.SENDGRID_WEBHOOK_PUBLIC_KEY)
    for post in (processed, final):
        assert post.path == "/hooks/sendgrid/events/"
        signature = post.headers["X-Twilio-Email-Event-Webhook-Signature"]
        timestamp = post.headers["X-Twilio-Email-Event-Webhook-Timestamp"]
        assert verifier.verify_signature(post.body.decode(), signature, timestamp, key)
        assert not verifier.verify_signature(post.body.decode() + " ", signature, timestamp, key)
    assert {e["event"] for e in json.loads(processed.body)} == {"processed"}
    events = {e["email"]: e for e in json.loads(final.body)}
    assert events["citizen0@example.org"]["event"] == "delivered"
    assert events["citizen1@example.org"]["event"] == "bounce"
    assert events["citizen1@example.org"]["reference"] == "delivery:1"  # custom_args, at the top level
    assert events["citizen2@example.org"]["sg_message_id"].split(".")[0] == results[2].provider_message_id
    assert len({e["sg_event_id"] for e in events.values()}) == 3


def test_no_callbacks_are_sent_without_a_callback_target(stub_providers, callback_receiver):
    stub_providers.configure(sent_after_ms=1, final_after_ms=2)

    get_channel("sms").send(sms("+447700900123", "delivery:1"))
    get_channel("email").send(OutgoingMessage(channel="email", to="a@example.org", subject="s", body="b"))

    assert stub_providers.state.wait_for(lambda s: len(s.callbacks) > 0, 0.3) is False
    assert callback_receiver.received == []


def test_callbacks_do_not_slow_the_answer(stub_providers, callback_receiver):
    stub_providers.configure(callback_base=callback_receiver.url, sent_after_ms=500, final_after_ms=1000)

    get_channel("sms").send(sms("+447700900123", "delivery:1"))

    (request,) = stub_providers.received("sms")
    assert request["finished"] - request["started"] < 0.2
    assert callback_receiver.received == []  # still to come


def test_a_callback_url_is_called_and_signed_exactly_as_given(stub_providers, callback_receiver, settings):
    from alerts.channels.twilio import TwilioSMSChannel

    stub_providers.configure(callback_base=callback_receiver.url, sent_after_ms=1, final_after_ms=2)
    channel = TwilioSMSChannel()
    message = sms("+447700900123", "alert 7/ü&x")
    assert channel.status_callback_url(message).endswith("?ref=alert%207%2F%C3%BC%26x")

    channel.send(message)

    first = callback_receiver.wait_for(2)[0]
    assert first.path == "/hooks/twilio/status/?ref=alert%207%2F%C3%BC%26x"
    fields = dict(parse_qsl(first.body.decode()))
    validator = RequestValidator(stub_providers.twilio_auth_token)
    assert validator.validate(callback_receiver.url + first.path, fields, first.headers["X-Twilio-Signature"])


@pytest.mark.django_db(transaction=True)
def test_the_project_s_webhooks_accept_the_stub_s_signed_callbacks(stub_providers, live_server):
    stub_providers.configure(callback_base=live_server.url, sent_after_ms=1, final_after_ms=2)

    get_channel("sms").send(sms("+447700900123", "delivery:1"))
    get_channel("email").send(OutgoingMessage(channel="email", to="a@example.org", subject="s", body="b"))

    callbacks = stub_providers.wait_for_callbacks(4, timeout=10)
    assert sorted(c["kind"] for c in callbacks) == ["sendgrid-events"] * 2 + ["twilio-status"] * 2
    assert [c["status_code"] for c in callbacks] == [204] * 4  # 403 would be a refused signature
