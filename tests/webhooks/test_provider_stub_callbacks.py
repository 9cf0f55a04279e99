"""The loopback provider stub's signed callbacks pass our checks and move deliveries.

The stub signs as Twilio and SendGrid do (with the twilio package and an ECDSA key of
its own); these tests send through the real channels and let the stub call back into
a live server, so a drift between what providers send and what we verify shows here.
"""

from __future__ import annotations

import pytest

from alerts.channels import OutgoingMessage, get_channel
from alerts.models import Delivery, WebhookEvent
from tests.factories import DeliveryFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def calling_back(stub_providers, live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    settings.TRUST_FORWARDED_HEADERS = False
    stub_providers.configure(callback_base=live_server.url, sent_after_ms=20, final_after_ms=60)
    return stub_providers


def test_twilio_status_callbacks_verify_and_deliver_by_reference(calling_back) -> None:
    # Sent, but the worker has not saved the SID yet: the ref in the callback URL finds it.
    delivery = DeliveryFactory(state=Delivery.State.SENDING)
    message = OutgoingMessage(channel="sms", to=delivery.address, body="Go", reference=f"delivery:{delivery.pk}")
    result = get_channel("sms").send(message)

    callbacks = calling_back.wait_for_callbacks(2, kind="twilio-status")

    assert [c["status_code"] for c in callbacks] == [204, 204]
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.DELIVERED
    assert delivery.provider_message_id == result.provider_message_id


def test_twilio_undelivered_callbacks_keep_the_reason(calling_back) -> None:
    delivery = DeliveryFactory(state=Delivery.State.SENDING)
    calling_back.configure(sms_final_status="undelivered", sms_error_code=30005)
    message = OutgoingMessage(channel="sms", to=delivery.address, body="Go", reference=f"delivery:{delivery.pk}")
    get_channel("sms").send(message)

    calling_back.wait_for_callbacks(2, kind="twilio-status")

    delivery.refresh_from_db()
    assert (delivery.state, delivery.error_code) == (Delivery.State.FAILED, "30005")
    assert delivery.error_reason == "Unknown number, or no longer in service"


def test_sendgrid_signed_events_verify_and_deliver(calling_back) -> None:
    delivery = DeliveryFactory(channel=Delivery.Channel.EMAIL, state=Delivery.State.SENDING)
    message = OutgoingMessage(
        channel="email",
        to=delivery.address,
        subject="Leave now",
        body="Leave by the northern road.",
        reference=f"delivery:{delivery.pk}",
    )
    get_channel("email").send(message)

    callbacks = calling_back.wait_for_callbacks(2, kind="sendgrid-events")

    assert [c["status_code"] for c in callbacks] == [204, 204]
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.DELIVERED
    assert WebhookEvent.objects.filter(provider="sendgrid").count() == 2


def test_the_stubs_callbacks_are_refused_with_another_token(calling_back, settings) -> None:
    settings.TWILIO_AUTH_TOKEN = "not-the-token-the-stub-signs-with"
    delivery = DeliveryFactory(state=Delivery.State.SENDING)
    message = OutgoingMessage(channel="sms", to=delivery.address, body="Go", reference=f"delivery:{delivery.pk}")
    # The SDK authenticates to the stub with the token too; the stub signs with its own.
    settings.TWILIO_AUTH_TOKEN = calling_back.twilio_auth_token
    get_channel("sms").send(message)
    settings.TWILIO_AUTH_TOKEN = "not-the-token-the-stub-signs-with"

    callbacks = calling_back.wait_for_callbacks(2, kind="twilio-status")

    assert [c["status_code"] for c in callbacks] == [403, 403]
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENDING
