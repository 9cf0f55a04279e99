"""Opting a phone number or an email address out of (and back into) our messages.

These write our own record (``Citizen.phone_opted_out_at`` / ``email_opted_out_at``),
which is what the audience query reads: an opted-out address is never sent to, whatever
the provider remembers. Opt-out applies to the address, so every citizen row holding it
is marked (an unverified twin included).
"""

from __future__ import annotations

import datetime
import logging

from django.utils import timezone

from embassy.logging import mask_phone
from registrations.models import Citizen

logger = logging.getLogger(__name__)


def opt_out_phone(number: str, *, source: str = "sms", at: datetime.datetime | None = None) -> int:
    """Mark every citizen with mobile ``number`` (E.164) as opted out of SMS, as of ``at``
    (when the person asked; now unless given).

    Returns how many rows changed; a number already opted out keeps its first date.
    """
    if not number:
        return 0
    changed = Citizen.objects.filter(phone=number, phone_opted_out_at__isnull=True).update(
        phone_opted_out_at=at or timezone.now(), updated_at=timezone.now()
    )
    logger.info("phone %s opted out by %s (%d citizen row(s))", mask_phone(number), source, changed)
    return changed


def opt_in_phone(number: str, *, source: str = "sms") -> int:
    """Clear the SMS opt-out of every citizen with mobile ``number``; returns rows changed."""
    if not number:
        return 0
    changed = Citizen.objects.filter(phone=number, phone_opted_out_at__isnull=False).update(
        phone_opted_out_at=None, updated_at=timezone.now()
    )
    logger.info("phone %s opted back in by %s (%d citizen row(s))", mask_phone(number), source, changed)
    return changed


def opt_out_email(address: str, *, source: str = "link") -> int:
    """Mark ``address`` as opted out of email, for every citizen holding it.

    Returns how many rows changed; an address already opted out keeps its first date.
    """
    address = (address or "").strip().lower()
    if not address:
        return 0
    # Emails are stored lower-case (registrations), so an exact match uses the index.
    changed = Citizen.objects.filter(email=address, email_opted_out_at__isnull=True).update(
        email_opted_out_at=timezone.now(), updated_at=timezone.now()
    )
    logger.info("email address opted out by %s (%d citizen row(s))", source, changed)
    return changed
