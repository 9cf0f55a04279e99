"""Check-ins: a citizen saying they are safe, need assistance, or have left.

They arrive by SMS (``alerts.services.inbound``) or by a signed link in an email
(``alerts.citizen_links``); both end in ``record_check_in``.
"""

from __future__ import annotations

import datetime
import logging
import unicodedata

from django.db.models import F
from django.utils import timezone

from alerts.models import Alert, CheckIn, Delivery, InboundMessage
from registrations.models import Citizen

logger = logging.getLogger(__name__)

Status = CheckIn.Status

# One word (or digit) as the whole message. Dari and Pashto words are the plain
# everyday ones; anything not listed goes to staff rather than being guessed at.
CHECK_IN_WORDS: dict[str, str] = {
    # I am safe
    "safe": Status.SAFE,
    "1": Status.SAFE,
    "امن": Status.SAFE,  # Dari "aman": safe
    "سالم": Status.SAFE,  # Dari "salim": safe and sound
    "خوندی": Status.SAFE,  # Pashto "khwandi": safe (yeh normalised, see _normalise)
    # I need assistance
    "assist": Status.NEEDS_ASSISTANCE,
    "need": Status.NEEDS_ASSISTANCE,
    "2": Status.NEEDS_ASSISTANCE,
    "کمک": Status.NEEDS_ASSISTANCE,  # Dari "komak": help
    "مرسته": Status.NEEDS_ASSISTANCE,  # Pashto "mrasta": help
    # I have left
    "left": Status.DEPARTED,
    "departed": Status.DEPARTED,
    "3": Status.DEPARTED,
    "رفتم": Status.DEPARTED,  # Dari "raftam": I left
}

# Arabic-script letters people type interchangeably on different keyboards.
_LETTER_VARIANTS = str.maketrans({"ي": "ی", "ى": "ی", "ې": "ی", "ك": "ک", "ة": "ه"})
# Joiners and the tatweel change how a word looks, not what it is.
_INVISIBLE = {"\u200c", "\u200d", "\u200e", "\u200f", "\u0640", "\ufeff"}


def normalise_keyword(text: str) -> str:
    """The text folded for keyword matching.

    Case-folded, NFKC, digits in any script turned into ASCII digits, punctuation,
    symbols and invisible joiners dropped, words joined without spaces: "  Safe! ",
    "S.A.F.E" and "safe" all give "safe"; "۱" gives "1"; "stop all" gives "stopall".
    """
    folded = unicodedata.normalize("NFKC", text or "").casefold().translate(_LETTER_VARIANTS)
    kept: list[str] = []
    for char in folded:
        if char in _INVISIBLE or char.isspace():
            continue
        category = unicodedata.category(char)
        if category[0] in ("P", "S", "C"):
            continue
        if category == "Nd":
            kept.append(str(unicodedata.digit(char)))
            continue
        kept.append(char)
    return "".join(kept)


def parse_check_in(text: str) -> str | None:
    """The CheckIn status a message means, or None when it is not a check-in word."""
    return CHECK_IN_WORDS.get(normalise_keyword(text))


def latest_alert_for_number(number: str, *, before: datetime.datetime | None = None) -> Delivery | None:
    """The most recent SMS delivery that reached ``number`` (sent or delivered) while it
    belonged to a citizen who still holds it, if any; with ``before``, the most recent
    sent by then (what an SMS fetched later answered, not an alert sent since).

    Looked up through the citizens holding the number (``Citizen.phone`` and
    ``Delivery.citizen`` are indexed): the deliveries' own address is not, and every
    reply to an evacuation alert would otherwise read the whole delivery table.
    """
    deliveries = Delivery.objects.filter(
        citizen__in=Citizen.objects.filter(phone=number).values("pk"),
        channel=Delivery.Channel.SMS,
        address=number,
        state__in=(Delivery.State.SENT, Delivery.State.DELIVERED),
    )
    if before is not None:
        deliveries = deliveries.filter(sent_at__lte=before)
    return deliveries.select_related("alert", "citizen").order_by(F("sent_at").desc(nulls_last=True), "-id").first()


def record_check_in(
    citizen: Citizen,
    status: str,
    *,
    source: str,
    raw_text: str = "",
    alert: Alert | None = None,
    inbound_message: InboundMessage | None = None,
    at: datetime.datetime | None = None,
) -> CheckIn:
    """Record one check-in and return it. Raises ValueError for an unknown status or source.

    The latest check-in of a citizen (``created_at``) is the one the accountability board
    counts. ``at``: when the citizen answered, if not now (an SMS fetched from Twilio
    later, stamped with when Twilio got it): a check-in recorded since that was made
    after it stays the latest.
    """
    if status not in Status.values:
        raise ValueError(f"unknown check-in status {status!r}")
    if source not in CheckIn.Source.values:
        raise ValueError(f"unknown check-in source {source!r}")
    check_in = CheckIn.objects.create(
        citizen=citizen,
        status=status,
        source=source,
        raw_text=raw_text,
        alert=alert,
        inbound_message=inbound_message,
        created_at=at or timezone.now(),
    )
    logger.info(
        "check-in #%s: citizen %s %s by %s (alert %s)",
        check_in.pk,
        citizen.pk,
        status,
        source,
        alert.pk if alert else "-",
    )
    return check_in
