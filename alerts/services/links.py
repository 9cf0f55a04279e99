"""Signed links we put in emails: one-click unsubscribe (RFC 8058) and check-in.

A token is ``django.core.signing`` data with its own salt, so an unsubscribe token can
never be used as a check-in token or the other way round, nor as any other signed value
of the project. Tokens hold ids and a keyed digest of the address, never the address
itself: URLs end up in access logs. Following a link (GET) never changes anything,
only the POST the page makes (or a mail client's one-click POST) does.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac

from alerts.models import Alert, CheckIn
from registrations.models import Citizen

UNSUBSCRIBE_SALT = "alerts.links.unsubscribe"
CHECK_IN_SALT = "alerts.links.check-in"


class InvalidLink(Exception):
    """The token is forged, damaged, expired or names nobody we know."""


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


# --- unsubscribe ------------------------------------------------------------------------


def _address_tag(address: str) -> str:
    # A keyed digest names the address without writing it into URLs (and so into proxy
    # and access logs); only this site can compute it.
    return salted_hmac(UNSUBSCRIBE_SALT + ".address", address.strip().lower()).hexdigest()[:24]


def unsubscribe_token(citizen: Citizen, address: str | None = None) -> str:
    """A token naming ``citizen`` and the email ``address`` (their current one by default)."""
    email = address if address is not None else citizen.email
    return signing.dumps({"c": citizen.pk, "a": _address_tag(email)}, salt=UNSUBSCRIBE_SALT)


def unsubscribe_url(citizen: Citizen, address: str | None = None) -> str:
    """The absolute one-click unsubscribe URL for ``citizen``'s email address.

    Put it in the email body and in ``List-Unsubscribe`` (see ``unsubscribe_headers``).
    Unsubscribe links do not expire: leaving must always work.
    """
    token = unsubscribe_token(citizen, address)
    return settings.PUBLIC_BASE_URL + reverse("links:unsubscribe", args=[token])


def unsubscribe_headers(citizen: Citizen, address: str | None = None) -> dict[str, str]:
    """The RFC 8058 headers for an email to ``citizen``: List-Unsubscribe and -Post."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(citizen, address)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def load_unsubscribe_token(token: str) -> UnsubscribeTarget:
    """The citizen and address a token names. Raises InvalidLink."""
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
        citizen = Citizen.objects.get(pk=int(data["c"]))
        tag = str(data["a"])
    except (signing.BadSignature, KeyError, TypeError, ValueError, Citizen.DoesNotExist) as exc:
        raise InvalidLink("unsubscribe link not valid") from exc
    holds_it = bool(citizen.email) and constant_time_compare(_address_tag(citizen.email), tag)
    return UnsubscribeTarget(citizen=citizen, address=citizen.email.strip().lower() if holds_it else None)


# --- check-in ---------------------------------------------------------------------------

# Short words for the status in a URL, so links read well in an email.
STATUS_SLUGS = {
    "safe": CheckIn.Status.SAFE,
    "assistance": CheckIn.Status.NEEDS_ASSISTANCE,
    "left": CheckIn.Status.DEPARTED,
}
SLUG_FOR_STATUS = {status: slug for slug, status in STATUS_SLUGS.items()}


def check_in_token(citizen: Citizen, alert: Alert | None = None) -> str:
    """A token naming ``citizen`` and, when the link answers an alert, that alert."""
    return signing.dumps({"c": citizen.pk, "a": alert.pk if alert else None}, salt=CHECK_IN_SALT, compress=True)


def check_in_url(citizen: Citizen, alert: Alert | None = None, status: str | None = None) -> str:
    """The absolute URL of the check-in page for ``citizen`` (answering ``alert``).

    Without ``status`` the page offers the three answers; with one (a CheckIn.Status
    value) it offers a single confirm button for it. Links expire after
    ``CHECK_IN_LINK_MAX_AGE_SECONDS``.
    """
    token = check_in_token(citizen, alert)
    if status is None:
        return settings.PUBLIC_BASE_URL + reverse("links:check-in", args=[token])
    if status not in SLUG_FOR_STATUS:
        raise ValueError(f"unknown check-in status {status!r}")
    return settings.PUBLIC_BASE_URL + reverse("links:check-in-status", args=[token, SLUG_FOR_STATUS[status]])


def load_check_in_token(token: str) -> CheckInTarget:
    """The citizen and alert a check-in token names. Raises InvalidLink (also when expired)."""
    try:
        data = signing.loads(token, salt=CHECK_IN_SALT, max_age=settings.CHECK_IN_LINK_MAX_AGE_SECONDS)
        citizen = Citizen.objects.get(pk=int(data["c"]))
        alert_id = data.get("a")
        alert = Alert.objects.filter(pk=int(alert_id)).first() if alert_id is not None else None
    except (signing.BadSignature, KeyError, TypeError, ValueError, AttributeError, Citizen.DoesNotExist) as exc:
        raise InvalidLink("check-in link not valid") from exc
    return CheckInTarget(citizen=citizen, alert=alert)
