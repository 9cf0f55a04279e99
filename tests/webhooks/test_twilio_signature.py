"""Twilio webhooks act only on requests carrying a valid X-Twilio-Signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlencode

import pytest

from alerts.models import Delivery, InboundMessage
from tests.factories import DeliveryFactory
from tests.webhooks.helpers import post_twilio, twilio_signature

pytestmark = pytest.mark.django_db

STATUS = "/hooks/twilio/status/"
INBOUND = "/hooks/twilio/inbound/"


def _status_params(delivery: Delivery, status: str = "delivered") -> dict[str, str]:
    return {
        "MessageSid": delivery.provider_message_id,
        "MessageStatus": status,
        "AccountSid": "AC" + "0" * 32,
        "To": delivery.address,
    }


def test_the_paths_are_the_ones_in_settings(settings) -> None:
    from django.urls import reverse

    assert reverse("hooks:twilio-status") == settings.TWILIO_STATUS_CALLBACK_PATH
    assert reverse("hooks:twilio-inbound") == settings.TWILIO_INBOUND_PATH
    assert reverse("hooks:sendgrid-events") == settings.SENDGRID_EVENTS_PATH


def test_a_valid_signature_is_accepted_and_the_status_applied(client) -> None:
    delivery = DeliveryFactory(sent=True)
    response = post_twilio(client, STATUS, _status_params(delivery))
    assert response.status_code == 204
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.DELIVERED


def test_a_valid_signature_over_a_query_string_is_accepted(client) -> None:
    delivery = DeliveryFactory(sent=True)
    path = f"{STATUS}?ref=delivery:{delivery.pk}"
    response = post_twilio(client, path, _status_params(delivery))
    assert response.status_code == 204
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.DELIVERED


@pytest.mark.parametrize(
    "signature",
    ["", "not-a-signature", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="],
    ids=["missing", "garbage", "wrong"],
)
def test_a_missing_or_wrong_signature_gets_403_and_changes_nothing(client, signature: str) -> None:
    delivery = DeliveryFactory(sent=True)
    response = post_twilio(client, STATUS, _status_params(delivery), signature=signature)
    assert response.status_code == 403
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENT


def test_a_signature_made_with_another_token_gets_403(client) -> None:
    delivery = DeliveryFactory(sent=True)
    response = post_twilio(client, STATUS, _status_params(delivery), token="someone-elses-token")
    assert response.status_code == 403
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENT


def test_a_replayed_request_with_an_altered_field_gets_403_and_changes_nothing(client) -> None:
    delivery = DeliveryFactory(sent=True)
    genuine = _status_params(delivery, "sent")
    altered = {**genuine, "MessageStatus": "failed", "ErrorCode": "30003"}
    response = post_twilio(client, STATUS, altered, signed_params=genuine)
    assert response.status_code == 403
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENT
    assert delivery.error_code == ""


def test_a_replayed_request_with_an_added_field_gets_403(client) -> None:
    delivery = DeliveryFactory(sent=True)
    genuine = _status_params(delivery, "delivered")
    response = post_twilio(client, STATUS, {**genuine, "ErrorCode": "30008"}, signed_params=genuine)
    assert response.status_code == 403


def test_a_replayed_request_with_an_altered_query_string_gets_403(client) -> None:
    mine = DeliveryFactory(sent=True)
    other = DeliveryFactory(state=Delivery.State.SENDING)
    signed = f"http://testserver{STATUS}?ref=delivery:{mine.pk}"
    params = {**_status_params(mine), "MessageSid": "SMunknown"}
    response = post_twilio(client, f"{STATUS}?ref=delivery:{other.pk}", params, signed_url=signed)
    assert response.status_code == 403
    other.refresh_from_db()
    assert other.state == Delivery.State.SENDING


def test_an_inbound_message_with_a_bad_signature_is_not_stored(client) -> None:
    params = {"MessageSid": "SMbad", "From": "+447700900001", "To": "+15005550000", "Body": "STOP"}
    response = post_twilio(client, INBOUND, params, signature="wrong")
    assert response.status_code == 403
    assert not InboundMessage.objects.exists()


def test_without_an_auth_token_every_request_is_refused(client, settings) -> None:
    settings.TWILIO_AUTH_TOKEN = ""
    delivery = DeliveryFactory(sent=True)
    # Even a signature made with the empty token: an unset token never means "trust anyone".
    response = post_twilio(client, STATUS, _status_params(delivery), token="")
    assert response.status_code == 403
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENT


def test_get_is_not_allowed(client) -> None:
    assert client.get(STATUS).status_code == 405


# --- behind a proxy -------------------------------------------------------------------

PUBLIC = "https://alerts.embassy.example"
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "alerts.embassy.example"}


def test_forwarded_headers_are_ignored_unless_trusted(client, settings) -> None:
    settings.TRUST_FORWARDED_HEADERS = False
    delivery = DeliveryFactory(sent=True)
    params = _status_params(delivery)
    # Signed for the public URL, but the proxy headers are not to be believed: refused.
    response = post_twilio(client, STATUS, params, signed_url=PUBLIC + STATUS, headers=FORWARDED)
    assert response.status_code == 403
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENT
    # Signed for the URL as received: accepted, whatever the headers claim.
    response = post_twilio(client, STATUS, params, headers=FORWARDED)
    assert response.status_code == 204
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.DELIVERED


def test_forwarded_headers_rebuild_the_url_when_trusted(client, settings) -> None:
    settings.TRUST_FORWARDED_HEADERS = True
    delivery = DeliveryFactory(sent=True)
    params = _status_params(delivery)
    # Signed for the internal URL: not what Twilio called, refused.
    response = post_twilio(client, STATUS, params, headers=FORWARDED)
    assert response.status_code == 403
    # Signed for the public URL Twilio called: accepted.
    response = post_twilio(client, STATUS, params, signed_url=PUBLIC + STATUS, headers=FORWARDED)
    assert response.status_code == 204
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.DELIVERED


def test_a_chain_of_proxies_uses_the_first_forwarded_values(client, settings) -> None:
    settings.TRUST_FORWARDED_HEADERS = True
    delivery = DeliveryFactory(sent=True)
    headers = {"X-Forwarded-Proto": "https, http", "X-Forwarded-Host": "alerts.embassy.example, internal:8000"}
    response = post_twilio(client, STATUS, _status_params(delivery), signed_url=PUBLIC + STATUS, headers=headers)
    assert response.status_code == 204


def test_the_test_signatures_follow_twilios_published_scheme() -> None:
    # HMAC-SHA1 over the full URL followed by each POST field name and value, sorted by
    # name, base64: computed here by hand, so the helper cannot drift from the scheme.
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {"Digits": "1234", "To": "+18005551212", "From": "+14158675310", "Caller": "+14158675310"}
    data = url + "".join(name + params[name] for name in sorted(params))
    expected = base64.b64encode(hmac.new(b"12345", data.encode(), hashlib.sha1).digest()).decode()
    assert twilio_signature(url, params, token="12345") == expected


def test_a_query_signed_percent_encoded_is_accepted_when_it_arrives_unescaped(client) -> None:
    # Our channel gives Twilio "?ref=delivery%3A42"; a client on the way may send ":".
    delivery = DeliveryFactory(sent=True)
    signed = f"http://testserver{STATUS}?{urlencode({'ref': f'delivery:{delivery.pk}'})}"
    assert "%3A" in signed
    response = post_twilio(client, f"{STATUS}?ref=delivery:{delivery.pk}", _status_params(delivery), signed_url=signed)
    assert response.status_code == 204


def test_an_unescaped_query_signed_as_such_is_accepted_when_it_arrives_so(client) -> None:
    delivery = DeliveryFactory(sent=True)
    path = f"{STATUS}?{urlencode({'ref': f'delivery:{delivery.pk}'})}"
    response = post_twilio(client, path, _status_params(delivery))
    assert response.status_code == 204
