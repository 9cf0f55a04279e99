"""Signing webhook requests the way Twilio and SendGrid do, for the tests.

Twilio: ``RequestValidator(token).compute_signature(url, params)`` from the twilio
package. SendGrid: an ECDSA P-256 key pair made per test run with starkbank-ecdsa;
the signature is over timestamp + raw body, base64 DER, as SendGrid sends it.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from django.http import HttpResponse
from django.test import Client
from ellipticcurve.curve import prime256v1
from ellipticcurve.ecdsa import Ecdsa
from ellipticcurve.privateKey import PrivateKey
from twilio.request_validator import RequestValidator

TWILIO_TOKEN = "test-twilio-auth-token-0123456789"
FORM = "application/x-www-form-urlencoded"


def twilio_signature(url: str, params: Mapping[str, str], token: str = TWILIO_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, dict(params))


def post_twilio(
    client: Client,
    path: str,
    params: Mapping[str, str],
    *,
    signed_url: str | None = None,
    signed_params: Mapping[str, str] | None = None,
    signature: str | None = None,
    headers: Mapping[str, str] | None = None,
    token: str = TWILIO_TOKEN,
) -> HttpResponse:
    """POST ``params`` form-encoded to ``path`` (which may carry a query string).

    The signature is computed over ``signed_url`` (default: the URL the test client
    calls) and ``signed_params`` (default: the params sent), unless ``signature`` is
    given outright; ``signature=""`` sends no signature header at all.
    """
    url = signed_url if signed_url is not None else f"http://testserver{path}"
    if signature is None:
        signature = twilio_signature(url, signed_params if signed_params is not None else params, token)
    extra = dict(headers or {})
    if signature:
        extra["X-Twilio-Signature"] = signature
    return client.post(path, urlencode(params), content_type=FORM, headers=extra)


def sms_to_live_server(base_url: str, phone: str, body: str, sid: str, *, token: str = TWILIO_TOKEN) -> None:
    """An inbound SMS from ``phone`` as Twilio POSTs it to a running server (signed with
    ``token``); the server must answer 200."""
    import requests
    from django.conf import settings

    url = base_url + settings.TWILIO_INBOUND_PATH
    params = {"MessageSid": sid, "SmsSid": sid, "From": phone, "To": "+15005550006", "Body": body}
    response = requests.post(
        url,
        data=urlencode(params),
        headers={"Content-Type": FORM, "X-Twilio-Signature": twilio_signature(url, params, token)},
        timeout=10,
    )
    assert response.status_code == 200, response.text


class SendGridSigner:
    """An ECDSA key pair standing in for SendGrid's; ``public_key`` goes in the setting."""

    def __init__(self) -> None:
        self._private = PrivateKey(curve=prime256v1)
        self.public_key = base64.b64encode(self._private.publicKey().toDer()).decode("ascii")

    def sign(self, timestamp: str, payload: str) -> str:
        return Ecdsa.sign(timestamp + payload, self._private).toBase64()

    def post(
        self,
        client: Client,
        path: str,
        events: Sequence[Mapping[str, Any]] | None = None,
        *,
        body: str | None = None,
        signed_body: str | None = None,
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> HttpResponse:
        """POST ``body`` (default: ``events`` as JSON, the way SendGrid lays it out) signed
        over ``signed_body`` (default: the body sent) at ``timestamp`` (default: now)."""
        if body is None:
            body = json.dumps(list(events or []), separators=(",", ":"))
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        if signature is None:
            signature = self.sign(stamp, body if signed_body is None else signed_body)
        headers = {"X-Twilio-Email-Event-Webhook-Timestamp": stamp}
        if signature:
            headers["X-Twilio-Email-Event-Webhook-Signature"] = signature
        return client.post(path, body, content_type="application/json", headers=headers)
