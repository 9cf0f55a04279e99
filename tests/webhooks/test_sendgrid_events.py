"""SendGrid's signed Event Webhook: verified on the raw body, applied once per event."""

from __future__ import annotations

import json
import time

import pytest

from alerts.models import Delivery, WebhookEvent
from tests.factories import CitizenFactory, DeliveryFactory

pytestmark = pytest.mark.django_db

EVENTS = "/hooks/sendgrid/events/"
S = Delivery.State


def _email_delivery(**kwargs) -> Delivery:
    return DeliveryFactory(channel=Delivery.Channel.EMAIL, sent=True, provider_message_id="Xmsgid0001", **kwargs)


def _event(delivery: Delivery, kind: str, n: int = 1, **extra) -> dict:
    event = {
        "email": delivery.address,
        "timestamp": int(time.time()),
        "event": kind,
        "sg_event_id": f"evt-{delivery.pk}-{kind}-{n}",
        "sg_message_id": f"{delivery.provider_message_id}.filterdrecv-1234-1-5F0A-0",
        "reference": f"delivery:{delivery.pk}",
    }
    event.update(extra)
    return event


def test_a_validly_signed_batch_is_applied(client, sendgrid) -> None:
    delivery = _email_delivery()
    response = sendgrid.post(client, EVENTS, [_event(delivery, "delivered")])
    assert response.status_code == 204
    delivery.refresh_from_db()
    assert delivery.state == S.DELIVERED


def test_a_re_serialised_payload_fails_verification(client, sendgrid) -> None:
    delivery = _email_delivery()
    # SendGrid signed its own bytes; the same events laid out differently are other bytes.
    raw = json.dumps([_event(delivery, "bounce", reason="550 no such user")], separators=(",", ":"))
    reserialised = json.dumps(json.loads(raw), indent=2, sort_keys=True)
    response = sendgrid.post(client, EVENTS, body=reserialised, signed_body=raw)
    assert response.status_code == 403
    delivery.refresh_from_db()
    assert delivery.state == S.SENT
    assert not WebhookEvent.objects.exists()


def test_an_altered_event_fails_verification(client, sendgrid) -> None:
    delivery = _email_delivery()
    raw = json.dumps([_event(delivery, "delivered")])
    altered = raw.replace('"delivered"', '"dropped"')
    response = sendgrid.post(client, EVENTS, body=altered, signed_body=raw)
    assert response.status_code == 403
    delivery.refresh_from_db()
    assert delivery.state == S.SENT


def test_an_old_timestamp_is_refused_even_with_a_valid_signature(client, sendgrid) -> None:
    delivery = _email_delivery()
    response = sendgrid.post(client, EVENTS, [_event(delivery, "delivered")], timestamp=int(time.time()) - 601)
    assert response.status_code == 403
    delivery.refresh_from_db()
    assert delivery.state == S.SENT


def test_a_timestamp_far_in_the_future_is_refused(client, sendgrid) -> None:
    delivery = _email_delivery()
    response = sendgrid.post(client, EVENTS, [_event(delivery, "delivered")], timestamp=int(time.time()) + 3600)
    assert response.status_code == 403


def test_a_timestamp_the_signature_does_not_cover_is_refused(client, sendgrid) -> None:
    delivery = _email_delivery()
    body = json.dumps([_event(delivery, "delivered")])
    signed_at = int(time.time()) - 30
    signature = sendgrid.sign(str(signed_at), body)
    response = sendgrid.post(client, EVENTS, body=body, signature=signature, timestamp=signed_at + 1)
    assert response.status_code == 403


@pytest.mark.parametrize(
    "signature", ["", "bm90IGEgc2lnbmF0dXJl", "%%%not base64%%%"], ids=["missing", "not-der", "junk"]
)
def test_a_missing_or_malformed_signature_is_refused(client, sendgrid, signature: str) -> None:
    delivery = _email_delivery()
    response = sendgrid.post(client, EVENTS, [_event(delivery, "delivered")], signature=signature)
    assert response.status_code == 403


def test_a_signature_from_another_key_is_refused(client, sendgrid) -> None:
    from tests.webhooks.helpers import SendGridSigner

    delivery = _email_delivery()
    response = SendGridSigner().post(client, EVENTS, [_event(delivery, "delivered")])
    assert response.status_code == 403


def test_without_a_public_key_every_post_is_refused(client, sendgrid, settings) -> None:
    settings.SENDGRID_WEBHOOK_PUBLIC_KEY = ""
    delivery = _email_delivery()
    assert sendgrid.post(client, EVENTS, [_event(delivery, "delivered")]).status_code == 403


def test_a_signed_body_that_is_not_an_array_is_a_bad_request(client, sendgrid) -> None:
    assert sendgrid.post(client, EVENTS, body='{"event": "delivered"}').status_code == 400


def test_a_duplicate_event_changes_nothing(client, sendgrid) -> None:
    delivery = _email_delivery()
    bounce = _event(delivery, "bounce", reason="mailbox full")
    assert sendgrid.post(client, EVENTS, [bounce]).status_code == 204
    delivery.refresh_from_db()
    assert delivery.state == S.FAILED
    first = delivery.updated_at
    # Replayed, signed afresh (SendGrid retries the same events): nothing changes.
    assert sendgrid.post(client, EVENTS, [bounce]).status_code == 204
    delivery.refresh_from_db()
    assert delivery.updated_at == first
    assert WebhookEvent.objects.filter(provider="sendgrid", event_id=bounce["sg_event_id"]).count() == 1


def test_processed_after_delivered_does_not_move_it_back(client, sendgrid) -> None:
    delivery = _email_delivery()
    delivered = _event(delivery, "delivered")
    sendgrid.post(client, EVENTS, [delivered, _event(delivery, "processed")])
    delivery.refresh_from_db()
    assert delivery.state == S.DELIVERED


def test_events_map_to_delivery_states(client, sendgrid) -> None:
    processed = DeliveryFactory(channel=Delivery.Channel.EMAIL, state=S.SENDING, provider_message_id="Xp1")
    dropped = _email_delivery()
    deferred = DeliveryFactory(channel=Delivery.Channel.EMAIL, sent=True, provider_message_id="Xd1")
    opened = DeliveryFactory(channel=Delivery.Channel.EMAIL, sent=True, provider_message_id="Xo1")
    events = [
        _event(processed, "processed"),
        _event(dropped, "dropped", reason="Bounced Address"),
        _event(deferred, "deferred", response="try later"),
        _event(opened, "open"),
    ]
    assert sendgrid.post(client, EVENTS, events).status_code == 204
    for row in (processed, dropped, deferred, opened):
        row.refresh_from_db()
    assert processed.state == S.SENT
    assert dropped.state == S.FAILED
    assert dropped.error_reason == "dropped: Bounced Address"
    assert deferred.state == S.SENT
    assert opened.state == S.DELIVERED


def test_a_bounce_after_delivered_is_ignored(client, sendgrid) -> None:
    delivery = _email_delivery()
    sendgrid.post(client, EVENTS, [_event(delivery, "delivered"), _event(delivery, "bounce", reason="late")])
    delivery.refresh_from_db()
    assert delivery.state == S.DELIVERED


def test_without_a_reference_the_message_id_prefix_and_address_find_the_delivery(client, sendgrid) -> None:
    # One X-Message-Id covers a whole batch; the address says which delivery it is.
    ours = DeliveryFactory(channel=Delivery.Channel.EMAIL, sent=True, provider_message_id="Xbatch01")
    neighbour = DeliveryFactory(channel=Delivery.Channel.EMAIL, sent=True, provider_message_id="Xbatch01")
    event = _event(ours, "delivered")
    del event["reference"]
    event["email"] = ours.address.upper()
    assert sendgrid.post(client, EVENTS, [event]).status_code == 204
    ours.refresh_from_db()
    neighbour.refresh_from_db()
    assert ours.state == S.DELIVERED
    assert neighbour.state == S.SENT


def test_a_reference_naming_another_address_changes_nothing(client, sendgrid) -> None:
    delivery = _email_delivery()
    event = _event(delivery, "dropped", email="someone.else@example.org")
    sendgrid.post(client, EVENTS, [event])
    delivery.refresh_from_db()
    assert delivery.state == S.SENT


@pytest.mark.parametrize("kind", ["unsubscribe", "group_unsubscribe", "spamreport"])
def test_unsubscribe_and_spam_reports_opt_the_email_out(client, sendgrid, kind: str) -> None:
    citizen = CitizenFactory()
    delivery = _email_delivery(citizen=citizen)
    assert citizen.email_reachable
    assert sendgrid.post(client, EVENTS, [_event(delivery, kind)]).status_code == 204
    citizen.refresh_from_db()
    assert citizen.email_opted_out_at is not None
    assert not citizen.email_reachable
    assert citizen.phone_reachable  # SMS is a separate choice


def test_a_batch_rolls_back_as_a_whole_when_one_event_fails(client, sendgrid, monkeypatch) -> None:
    from alerts.services import delivery_status

    first = _email_delivery()
    second = DeliveryFactory(channel=Delivery.Channel.EMAIL, sent=True, provider_message_id="Xsecond")
    original = delivery_status._apply_email_event

    def explode_on_second(event, outcome):
        if event["reference"] == f"delivery:{second.pk}":
            raise RuntimeError("database went away")
        original(event, outcome)

    monkeypatch.setattr(delivery_status, "_apply_email_event", explode_on_second)
    client.raise_request_exception = False
    response = sendgrid.post(client, EVENTS, [_event(first, "delivered"), _event(second, "delivered")])
    assert response.status_code == 500  # SendGrid retries the batch
    first.refresh_from_db()
    assert first.state == S.SENT
    assert not WebhookEvent.objects.exists()


def test_old_event_keys_are_pruned_and_recent_ones_kept() -> None:
    from datetime import timedelta

    from django.utils import timezone

    from alerts.services.delivery_status import prune_webhook_events

    old = WebhookEvent.objects.create(provider="sendgrid", event_id="old")
    recent = WebhookEvent.objects.create(provider="sendgrid", event_id="recent")
    WebhookEvent.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(days=8))
    assert prune_webhook_events() == 1
    assert list(WebhookEvent.objects.values_list("pk", flat=True)) == [recent.pk]
