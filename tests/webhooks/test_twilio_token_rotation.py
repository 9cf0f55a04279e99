"""Rotating the Twilio auth token: webhooks signed with the primary or the secondary
token are both accepted, any other is refused; the API client keeps the primary."""

from __future__ import annotations

import pytest

from alerts.models import Delivery, InboundMessage
from tests.factories import DeliveryFactory
from tests.webhooks.helpers import TWILIO_TOKEN, post_twilio

pytestmark = pytest.mark.django_db

STATUS = "/hooks/twilio/status/"
INBOUND = "/hooks/twilio/inbound/"
NEW_TOKEN = "the-new-twilio-auth-token-98765"


def _delivered(delivery: Delivery) -> dict[str, str]:
    return {"MessageSid": delivery.provider_message_id, "MessageStatus": "delivered", "To": delivery.address}


@pytest.fixture(autouse=True)
def _rotating(settings) -> None:
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN
    settings.TWILIO_AUTH_TOKEN_SECONDARY = NEW_TOKEN


@pytest.mark.parametrize("token", [TWILIO_TOKEN, NEW_TOKEN], ids=["primary", "secondary"])
def test_a_status_callback_signed_with_either_token_is_applied(client, token: str) -> None:
    delivery = DeliveryFactory(sent=True)
    assert (
        post_twilio(client, f"{STATUS}?ref=delivery:{delivery.pk}", _delivered(delivery), token=token).status_code
        == 204
    )
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.DELIVERED


def test_an_inbound_sms_signed_with_the_secondary_token_is_kept(client) -> None:
    params = {"MessageSid": "SMrotated", "From": "+447700900001", "To": "+15005550000", "Body": "SAFE"}
    assert post_twilio(client, INBOUND, params, token=NEW_TOKEN).status_code == 200
    assert InboundMessage.objects.filter(provider_message_id="SMrotated").exists()


def test_a_third_token_is_refused(client) -> None:
    delivery = DeliveryFactory(sent=True)
    response = post_twilio(client, STATUS, _delivered(delivery), token="a-third-token-nobody-configured")
    assert response.status_code == 403
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENT


def test_without_a_secondary_only_the_primary_is_accepted(client, settings) -> None:
    settings.TWILIO_AUTH_TOKEN_SECONDARY = ""
    delivery = DeliveryFactory(sent=True)
    assert post_twilio(client, STATUS, _delivered(delivery), token=NEW_TOKEN).status_code == 403
    assert post_twilio(client, STATUS, _delivered(delivery), token="").status_code == 403
    assert post_twilio(client, STATUS, _delivered(delivery)).status_code == 204


def test_a_secondary_alone_does_not_open_the_webhooks(client, settings) -> None:
    settings.TWILIO_AUTH_TOKEN = ""
    delivery = DeliveryFactory(sent=True)
    assert post_twilio(client, STATUS, _delivered(delivery), token=NEW_TOKEN).status_code == 403
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENT


def test_the_api_client_keeps_the_primary_token(settings) -> None:
    from alerts.channels.twilio import TwilioSMSChannel

    settings.TWILIO_ACCOUNT_SID = "AC" + "0" * 32
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "0" * 32
    assert TwilioSMSChannel().auth_token == TWILIO_TOKEN
