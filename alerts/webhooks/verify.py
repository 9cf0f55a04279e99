"""Checking that a webhook request really comes from the provider.

Twilio signs with HMAC over the URL it called plus the sorted POST fields
(``X-Twilio-Signature``); SendGrid signs timestamp + raw body with ECDSA. Both checks
run on the request exactly as received, before anything is parsed into our models.
Without a configured secret every request is refused: an unset token must never mean
"trust anyone".
"""

from __future__ import annotations

import binascii
import logging
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.http import HttpRequest
from sendgrid.helpers.eventwebhook import EventWebhook
from twilio.request_validator import RequestValidator, get_signature_algorithm

logger = logging.getLogger(__name__)

TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"
TWILIO_SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
SENDGRID_SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


def _first(value: str) -> str:
    # A chain of proxies appends: the first value is what the client (Twilio) used.
    return value.split(",")[0].strip()


def signed_url(request: HttpRequest) -> str:
    """The URL the provider called, as it signed it.

    Only when ``TRUST_FORWARDED_HEADERS`` is on (a TLS-terminating proxy we run sits in
    front) are X-Forwarded-Proto / X-Forwarded-Host believed; otherwise the URL is the
    request's own, as received.
    """
    scheme = request.scheme
    host = request.get_host()
    if settings.TRUST_FORWARDED_HEADERS:
        scheme = _first(request.headers.get("X-Forwarded-Proto", "")) or scheme
        host = _first(request.headers.get("X-Forwarded-Host", "")) or host
    return f"{scheme}://{host}{request.get_full_path()}"


def _url_variants(url: str) -> list[str]:
    """The URL as received, then (if different) with its query encoded as urlencode does.

    Twilio signs the StatusCallback URL as we gave it (our channel builds the query with
    ``urlencode``: ``ref=delivery%3A42``), but an HTTP client or proxy on the way may
    normalise the escapes (``ref=delivery:42``). Both spell the same parameters, so
    accepting a signature over either changes nothing an attacker could use.
    """
    parts = urlsplit(url)
    if not parts.query:
        return [url]
    canonical = urlunsplit(parts._replace(query=urlencode(parse_qsl(parts.query, keep_blank_values=True))))
    return [url] if canonical == url else [url, canonical]


def twilio_request_is_valid(request: HttpRequest) -> bool:
    """True when ``request`` carries a valid X-Twilio-Signature for its URL and POST fields.

    Twilio signs with the account's primary auth token. During a rotation the old and the
    new token are both live for a while, so a signature made with
    ``TWILIO_AUTH_TOKEN_SECONDARY`` is accepted too (signatures only: the API client
    always uses ``TWILIO_AUTH_TOKEN``).
    """
    token = settings.TWILIO_AUTH_TOKEN
    if not token:
        logger.error("TWILIO_AUTH_TOKEN is not set: refusing every Twilio webhook")
        return False
    signature = request.headers.get(TWILIO_SIGNATURE_HEADER, "")
    if not signature:
        return False
    algorithm = get_signature_algorithm(request.headers.get(TWILIO_SIGNATURE_SETTINGS_HEADER, ""))
    urls = _url_variants(signed_url(request))
    tokens = [token, *([settings.TWILIO_AUTH_TOKEN_SECONDARY] if settings.TWILIO_AUTH_TOKEN_SECONDARY else [])]
    return any(
        RequestValidator(each).validate(url, request.POST, signature, algorithm) for each in tokens for url in urls
    )


def sendgrid_request_is_valid(request: HttpRequest, *, now: float | None = None) -> bool:
    """True when the raw body carries SendGrid's valid ECDSA signature and a fresh timestamp.

    The signature covers the timestamp header followed by the body bytes exactly as
    sent: a payload parsed and serialised again does not verify. Timestamps further than
    ``SENDGRID_WEBHOOK_MAX_AGE_SECONDS`` from now (either way) are refused, so a captured
    request cannot be replayed later.
    """
    public_key = settings.SENDGRID_WEBHOOK_PUBLIC_KEY
    if not public_key:
        logger.error("SENDGRID_WEBHOOK_PUBLIC_KEY is not set: refusing every SendGrid event post")
        return False
    signature = request.headers.get(SENDGRID_SIGNATURE_HEADER, "")
    timestamp = request.headers.get(SENDGRID_TIMESTAMP_HEADER, "")
    if not signature or not timestamp:
        return False
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    if age > settings.SENDGRID_WEBHOOK_MAX_AGE_SECONDS:
        logger.warning("sendgrid event post refused: timestamp %ss away from now", int(age))
        return False
    verifier = EventWebhook()
    try:
        key = verifier.convert_public_key_to_ecdsa(public_key)
    except (ValueError, TypeError):
        logger.error("SENDGRID_WEBHOOK_PUBLIC_KEY does not load as a public key: refusing SendGrid event posts")
        return False
    try:
        payload = request.body.decode("utf-8")
        return bool(verifier.verify_signature(payload, signature, timestamp, key))
    except (UnicodeDecodeError, binascii.Error, ValueError, TypeError):
        # A body that is not UTF-8 or a signature that is not base64/DER does not verify.
        return False
