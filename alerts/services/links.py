"""Signed links we put in messages: one-click unsubscribe (RFC 8058) and check-in.

An alert puts two personal links in every message, so a million recipients mean two
million tokens: they are made with one keyed HMAC-SHA256 each (a key derived per
purpose from ``SECRET_KEY`` once, then copied), not with ``django.core.signing``'s JSON,
base64 and signer per token. A token is short, dot-separated and URL-safe:

- check-in: ``<citizen>.<alert or ->.<issued>.<mac>`` (numbers in base 62, ``issued``
  in seconds since the epoch, checked against ``CHECK_IN_LINK_MAX_AGE_SECONDS``);
- unsubscribe: ``<citizen>.<address tag>.<mac>``; the tag is a keyed digest of the
  address the link was made for, so a link to an address the citizen no longer holds
  is recognised as such, and the address itself never appears in a URL (URLs end up in
  access logs). Unsubscribe links do not expire: leaving must always work.

Each purpose has its own key, so an unsubscribe token can never be used as a check-in
token or the other way round. The MAC is 120 bits, compared in constant time; tokens
made with a key in ``SECRET_KEY_FALLBACKS`` are still accepted (key rotation). Tokens of
the earlier ``django.core.signing`` format (they contain ``:``) are still read, so
links in messages already sent keep working.

Following a link (GET) never changes anything, only the POST the page makes (or a
mail client's one-click POST) does.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.core import signing
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.crypto import constant_time_compare, salted_hmac

from alerts.models import Alert, CheckIn
from registrations.models import Citizen

UNSUBSCRIBE_SALT = "alerts.links.unsubscribe"
CHECK_IN_SALT = "alerts.links.check-in"
_ADDRESS_PURPOSE = UNSUBSCRIBE_SALT + ".address"
_MAC_BYTES = 15  # 120 bits: 20 URL-safe base64 characters, no padding
_TAG_CHARS = 16


class InvalidLink(Exception):
    """The token is forged, damaged, expired or names nobody we know."""


class _Person(Protocol):
    """What a link needs of a citizen: ``Citizen``, or the sender's lighter row."""

    pk: int
    email: str


@dataclass(frozen=True)
class UnsubscribeTarget:
    """The citizen a link names, and the address it was made for: None when the citizen
    no longer holds that address (nothing to unsubscribe there any more)."""

    citizen: Citizen
    address: str | None


@dataclass(frozen=True)
class CheckInTarget:
    citizen: Citizen
    alert: Alert | None


# Short words for the status in a URL, so links read well in an email.
STATUS_SLUGS = {
    "safe": CheckIn.Status.SAFE,
    "assistance": CheckIn.Status.NEEDS_ASSISTANCE,
    "left": CheckIn.Status.DEPARTED,
}
SLUG_FOR_STATUS = {status: slug for slug, status in STATUS_SLUGS.items()}


# --- the compact format -------------------------------------------------------------------


def _unb62(text: str) -> int:
    """A non-negative number from a token's part (``signing.b62_decode``); ValueError for anything else (a sign,
    a character outside base 62, or more digits than an id or a time ever has)."""
    if not text or len(text) > 12 or not text.isalnum() or not text.isascii():
        raise ValueError("not a number")
    return signing.b62_decode(text)


@functools.lru_cache(maxsize=16)
def _keyed(purpose: str, secret: str) -> hmac.HMAC:
    """An HMAC-SHA256 already keyed for ``purpose``: each token copies it."""
    key = hashlib.sha256(f"embassy.links:{purpose}:{secret}".encode()).digest()
    return hmac.new(key, digestmod=hashlib.sha256)


def _mac(purpose: str, message: str, secret: str | None = None) -> str:
    h = _keyed(purpose, secret if secret is not None else settings.SECRET_KEY).copy()
    h.update(message.encode())
    return base64.urlsafe_b64encode(h.digest()[:_MAC_BYTES]).decode()


def _mac_ok(purpose: str, message: str, mac: str, length: int = 20) -> bool:
    """Whether ``mac`` (its first ``length`` characters) is right for ``message`` under
    the current key or a fallback."""
    for secret in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS):
        if hmac.compare_digest(_mac(purpose, message, secret)[:length], mac):
            return True
    return False


@functools.lru_cache(maxsize=32)
def _route(name: str, rest: tuple[str, ...], urlconf: str | None, prefix: str) -> tuple[str, str]:
    """The path of route ``name`` (with arguments ``rest`` after the token) before and
    after its token, reversed once and not per link."""
    marker = "T0KEN"
    before, _, after = reverse(name, args=[marker, *rest]).partition(marker)
    return before, after


class LinkMaker:
    """Makes many links: the site's address and the routes are read once, not per link.

    One per task that renders an alert's messages; ``check_in_url`` and
    ``unsubscribe_url`` make one each for a single link.
    """

    def __init__(self) -> None:
        self.base = settings.PUBLIC_BASE_URL
        self._urlconf = get_urlconf()
        self._prefix = get_script_prefix()

    def url(self, name: str, token: str, *rest: str) -> str:
        before, after = _route(name, rest, self._urlconf, self._prefix)
        return f"{self.base}{before}{token}{after}"

    def check_in(self, citizen: _Person, alert: Alert | None = None, status: str | None = None) -> str:
        """See ``check_in_url``."""
        if status is not None and status not in SLUG_FOR_STATUS:
            raise ValueError(f"unknown check-in status {status!r}")
        token = check_in_token(citizen, alert)
        if status is None:
            return self.url("links:check-in", token)
        return self.url("links:check-in-status", token, SLUG_FOR_STATUS[status])

    def unsubscribe(self, citizen: _Person, address: str | None = None) -> str:
        """See ``unsubscribe_url``."""
        return self.url("links:unsubscribe", unsubscribe_token(citizen, address))


# --- unsubscribe ------------------------------------------------------------------------


def _address_tag(address: str) -> str:
    # A keyed digest names the address without writing it into URLs (and so into proxy
    # and access logs); only this site can compute it.
    return _mac(_ADDRESS_PURPOSE, address.strip().lower())[:_TAG_CHARS]


def unsubscribe_token(citizen: _Person, address: str | None = None) -> str:
    """A token naming ``citizen`` and the email ``address`` (their current one by default)."""
    email = address if address is not None else citizen.email
    body = f"{signing.b62_encode(citizen.pk)}.{_address_tag(email)}"
    return f"{body}.{_mac(UNSUBSCRIBE_SALT, body)}"


def unsubscribe_url(citizen: _Person, address: str | None = None) -> str:
    """The absolute one-click unsubscribe URL for ``citizen``'s email address.

    Put it in the email body and in ``List-Unsubscribe`` (see ``unsubscribe_headers``).
    """
    return LinkMaker().unsubscribe(citizen, address)


def unsubscribe_headers(citizen: _Person, address: str | None = None) -> dict[str, str]:
    """The RFC 8058 headers for an email to ``citizen``: List-Unsubscribe and -Post."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(citizen, address)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def _read_unsubscribe(token: str) -> tuple[int, str]:
    if ":" in token:  # the earlier django.core.signing format
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
        return int(data["c"]), "legacy:" + str(data["a"])
    citizen, tag, mac = token.split(".")
    if len(tag) != _TAG_CHARS or not _mac_ok(UNSUBSCRIBE_SALT, f"{citizen}.{tag}", mac):
        raise ValueError("bad signature")
    return _unb62(citizen), tag


def load_unsubscribe_token(token: str) -> UnsubscribeTarget:
    """The citizen and address a token names. Raises InvalidLink."""
    try:
        citizen_id, tag = _read_unsubscribe(token)
        citizen = Citizen.objects.get(pk=citizen_id)
    except (signing.BadSignature, KeyError, TypeError, ValueError, Citizen.DoesNotExist) as exc:
        raise InvalidLink("unsubscribe link not valid") from exc
    if tag.startswith("legacy:"):
        address = citizen.email.strip().lower()
        holds_it = bool(address) and any(
            constant_time_compare(
                salted_hmac(_ADDRESS_PURPOSE, address, secret).hexdigest()[:24], tag.removeprefix("legacy:")
            )
            for secret in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS)
        )
    else:
        address = citizen.email.strip().lower()
        holds_it = bool(address) and _mac_ok(_ADDRESS_PURPOSE, address, tag, _TAG_CHARS)
    return UnsubscribeTarget(citizen=citizen, address=citizen.email.strip().lower() if holds_it else None)


# --- check-in ---------------------------------------------------------------------------


def check_in_token(citizen: _Person, alert: Alert | None = None, *, issued: int | None = None) -> str:
    """A token naming ``citizen`` and, when the link answers an alert, that alert.

    ``issued`` (seconds since the epoch, default now) is when the link's age starts.
    """
    alert_part = signing.b62_encode(alert.pk) if alert is not None else "-"
    when = signing.b62_encode(int(time.time()) if issued is None else issued)
    body = f"{signing.b62_encode(citizen.pk)}.{alert_part}.{when}"
    return f"{body}.{_mac(CHECK_IN_SALT, body)}"


def check_in_url(citizen: _Person, alert: Alert | None = None, status: str | None = None) -> str:
    """The absolute URL of the check-in page for ``citizen`` (answering ``alert``).

    Without ``status`` the page offers the three answers; with one (a CheckIn.Status
    value) it offers a single confirm button for it. Links expire after
    ``CHECK_IN_LINK_MAX_AGE_SECONDS``.
    """
    return LinkMaker().check_in(citizen, alert, status)


def _read_check_in(token: str) -> tuple[int, int | None]:
    max_age = settings.CHECK_IN_LINK_MAX_AGE_SECONDS
    if ":" in token:  # the earlier django.core.signing format
        data = signing.loads(token, salt=CHECK_IN_SALT, max_age=max_age)
        alert_id = data.get("a")
        return int(data["c"]), int(alert_id) if alert_id is not None else None
    citizen, alert, issued, mac = token.split(".")
    if not _mac_ok(CHECK_IN_SALT, f"{citizen}.{alert}.{issued}", mac):
        raise ValueError("bad signature")
    if time.time() - _unb62(issued) > max_age:
        raise ValueError("expired")
    return _unb62(citizen), None if alert == "-" else _unb62(alert)


def load_check_in_token(token: str) -> CheckInTarget:
    """The citizen and alert a check-in token names. Raises InvalidLink (also when expired)."""
    try:
        citizen_id, alert_id = _read_check_in(token)
        citizen = Citizen.objects.get(pk=citizen_id)
    except (signing.BadSignature, KeyError, TypeError, ValueError, AttributeError, Citizen.DoesNotExist) as exc:
        raise InvalidLink("check-in link not valid") from exc
    alert = Alert.objects.filter(pk=alert_id).first() if alert_id is not None else None
    return CheckInTarget(citizen=citizen, alert=alert)
