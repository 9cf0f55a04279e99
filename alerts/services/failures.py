"""Why an alert's messages were not sent or not delivered, in words staff can act on.

Deliveries keep the provider's error code (``error_code``: Twilio's ``21211``, an SMTP
status like ``5.1.1``, or one of ours like ``unknown``) and an English reason for the
logs. Staff read the code's label instead, in their own language, counted per channel
and code: "Invalid number: 120 SMS".
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count
from django.utils.translation import gettext as _

from alerts.models import Alert, Delivery
from alerts.services.delivery_status import TWILIO_ERROR_REASONS


def _labels() -> dict[str, str]:
    # Built per call so that each is in the active language.
    return {
        # Twilio, refused when sent
        "21211": _("Invalid phone number"),
        "21614": _("Not a mobile number"),
        "21610": _("Opted out at the provider (STOP)"),
        # Twilio, reported undelivered by the carrier: the words stored with the delivery
        **{code: _(words) for code, words in TWILIO_ERROR_REASONS.items()},
        # ours
        "unknown": _("Outcome unknown: may have been sent; not sent again unless an approver chooses to"),
        "no-text": _("No text in their language"),
        "no-address": _("No address"),
        "attempts": _("Gave up after every attempt"),
        "permanent": _("Refused by the provider"),
        "opted-out": _("Opted out"),
        "removed": _("Citizen removed"),
        "aborted": _("Alert aborted before it was sent"),
        "expired": _("Alert expired before it was sent"),
    }


def reason_label(code: str, state: str) -> str:
    """The words for a delivery that ended ``state`` with ``code``."""
    labels = _labels()
    if code in labels:
        return labels[code]
    if code[:2] in ("5.", "4."):  # an SMTP status from the mail server
        return _("Bounced by the mail server (%(code)s)") % {"code": code}
    if code:
        return _("Refused by the provider (error %(code)s)") % {"code": code}
    if state == Delivery.State.FAILED:
        return _("Not delivered (no reason given)")
    return _("Not sent")


@dataclass(frozen=True)
class Reason:
    channel: str
    state: str  # failed or skipped
    code: str
    label: str
    count: int


def not_sent_reasons(alert: Alert) -> list[Reason]:
    """The alert's failed and skipped deliveries counted per channel, state and code,
    largest first."""
    rows = (
        Delivery.objects.filter(alert=alert, state__in=(Delivery.State.FAILED, Delivery.State.SKIPPED))
        .values_list("channel", "state", "error_code")
        .annotate(n=Count("*"))
        .order_by("-n", "channel", "error_code")
    )
    return [Reason(channel, state, code, reason_label(code, state), n) for channel, state, code, n in rows]
