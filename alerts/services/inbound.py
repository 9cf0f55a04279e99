"""Inbound SMS: what a person texted us, what we make of it, and what we answer.

Order (DESIGN, flow 5): opt-out words first (opt-out wins over everything), then opt-in
words, then the carriers' HELP/INFO, then check-in words; anything else is kept for
staff. Every message is stored as an InboundMessage; its MessageSid is unique, so a
message Twilio posts twice, or that both the webhook and the fetch of missed messages
(``alerts.services.missed_inbound``) bring, is recorded and acted on once. The sid is
also kept as a WebhookEvent ("twilio-inbound"), which outlives an erasure of the
message's sender (until ``prune_webhook_events``): a message erased with its sender is
never recorded again from Twilio's list.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from alerts.models import Alert, CheckIn, InboundMessage, WebhookEvent
from alerts.services.checkins import latest_alert_for_number, normalise_keyword, parse_check_in, record_check_in
from alerts.services.opt_outs import opt_in_phone, opt_out_phone
from embassy.logging import mask_phone
from registrations.models import Citizen

logger = logging.getLogger(__name__)

Kind = InboundMessage.Kind

# Twilio's default opt-out and opt-in keywords (Advanced Opt-Out), matched as the whole
# message after normalise_keyword (case, spaces and punctuation do not matter).
OPT_OUT_WORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"})
OPT_IN_WORDS = frozenset({"start", "unstop", "yes"})
HELP_WORDS = frozenset({"help", "info"})


#: WebhookEvent.provider of an inbound SMS's sid.
INBOUND_EVENT = "twilio-inbound"


@dataclass(frozen=True)
class InboundResult:
    """The stored message (None: recorded once and erased since with its sender), whether
    this call stored it (False: a duplicate), and the reply to send back ("" for none)."""

    message: InboundMessage | None
    created: bool
    reply: str


# Twilio's OptOutType field: set when its Advanced Opt-Out matched one of the keywords
# configured on the Messaging Service (which may include words we do not list).
_TWILIO_OPT_OUT_TYPE = {"STOP": Kind.OPT_OUT, "START": Kind.OPT_IN, "HELP": Kind.HELP}


def classify(body: str, opt_out_type: str = "") -> tuple[str, str | None]:
    """(InboundMessage kind, check-in status or None) for a message text.

    ``opt_out_type`` is Twilio's OptOutType for the message, when it sent one: Twilio
    has then already acted on the keyword, and our record must agree with it.
    """
    forced = _TWILIO_OPT_OUT_TYPE.get((opt_out_type or "").strip().upper())
    if forced is not None:
        return forced, None
    word = normalise_keyword(body)
    if word in OPT_OUT_WORDS:
        return Kind.OPT_OUT, None
    if word in OPT_IN_WORDS:
        return Kind.OPT_IN, None
    if word in HELP_WORDS:
        return Kind.HELP, None
    status = parse_check_in(body)
    if status is not None:
        return Kind.CHECK_IN, status
    return Kind.OTHER, None


def _citizen_for_number(number: str) -> Citizen | None:
    """The citizen a number belongs to: the verified holder first, else the newest row."""
    return (
        Citizen.objects.filter(phone=number)
        .order_by(F("phone_verified_at").desc(nulls_last=True), "-created_at")
        .first()
    )


def _register_url() -> str:
    return settings.PUBLIC_BASE_URL + reverse("registrations:register")


# The Unicode blocks of the Arabic script, in which Dari and Pashto are written: Arabic,
# Arabic Supplement, Arabic Extended-A, and the presentation forms some phones send.
_ARABIC_SCRIPT = ((0x0600, 0x06FF), (0x0750, 0x077F), (0x08A0, 0x08FF), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF))
#: the answer's language to a message in the Arabic script from a number we do not know
ARABIC_SCRIPT_REPLY_LANGUAGE = "fa"


def _in_arabic_script(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _ARABIC_SCRIPT)


def written_in_arabic_script(body: str) -> bool:
    """Whether at least half of the message's letters are in the Arabic script (Dari,
    Pashto). Arabic-Indic digits (۱ ۲ ۳) count as its letters; ASCII digits, spaces,
    punctuation and emoji belong to no script and do not count. False without letters."""
    letters = [char for char in body or "" if char.isalpha() or (char.isdigit() and not char.isascii())]
    arabic = sum(1 for char in letters if _in_arabic_script(char))
    return bool(letters) and 2 * arabic >= len(letters)


def reply_language(citizen: Citizen | None, body: str = "") -> str:
    """The language to answer an SMS in: the citizen's own; for a number we do not know,
    Dari when the message is written in the Arabic script (``written_in_arabic_script``:
    a Dari or Pashto writer reads Dari more easily than English), else
    ``settings.LANGUAGE_CODE``."""
    if citizen is not None:
        return citizen.preferred_language
    if written_in_arabic_script(body):
        return ARABIC_SCRIPT_REPLY_LANGUAGE
    return settings.LANGUAGE_CODE


def reply_for(kind: str, *, citizen: Citizen | None, status: str | None = None, body: str = "") -> str:
    """The SMS answer to a message of ``kind``, text ``body``, in ``reply_language``."""
    language = reply_language(citizen, body)
    with translation.override(language):
        if kind == Kind.OPT_OUT:
            # Twilio confirms STOP itself and refuses any further message to the number
            # (error 21610), so a reply of ours would only fail.
            return ""
        if kind == Kind.OPT_IN:
            return gettext("You will receive embassy alerts by SMS again. Reply STOP to stop them.")
        if kind == Kind.HELP or citizen is None:
            if citizen is None:
                return gettext(
                    "This number is not registered for embassy alerts. Register at %(url)s. "
                    "Reply STOP to receive no messages."
                ) % {"url": _register_url()}
            return gettext(
                "Embassy alerts. Reply SAFE or 1 if you are safe, NEED or 2 if you need assistance, "
                "LEFT or 3 if you have left the area. Reply STOP to stop alerts. Details: %(url)s"
            ) % {"url": _register_url()}
        if kind == Kind.CHECK_IN and status is not None:
            words = {
                CheckIn.Status.SAFE: gettext("Thank you. We have recorded that you are safe."),
                CheckIn.Status.NEEDS_ASSISTANCE: gettext(
                    "We have recorded that you need assistance. Embassy staff will contact you. "
                    "If your life is in danger, call local emergency services."
                ),
                CheckIn.Status.DEPARTED: gettext("Thank you. We have recorded that you have left."),
            }
            return words[status]
        return gettext("Thank you. Your message has been passed to embassy staff.")


def record_inbound_sms(
    message_sid: str,
    from_number: str,
    to_number: str,
    body: str,
    *,
    opt_out_type: str = "",
    sent_at: datetime.datetime | None = None,
) -> InboundResult:
    """Store and act on one inbound SMS; return it with the reply to send.

    - opt-out words set ``phone_opted_out_at`` on every citizen with that number;
    - opt-in words clear it;
    - HELP/INFO get the help text and are never a check-in;
    - check-in words record a CheckIn (source SMS, raw text kept) linked to the most
      recent alert that reached the number, if any;
    - anything else is kept as kind OTHER for staff.
    Twilio's ``opt_out_type`` (STOP/START/HELP), when given, decides the kind. Unknown
    numbers are stored too, and answered with how to register (in Dari when the message
    is written in the Arabic script, see ``reply_language``). The same
    ``message_sid`` again changes nothing and gets the same answer; one whose message was
    erased since gets none. Raises ValueError when ``message_sid`` or ``from_number`` is
    empty.

    ``sent_at``: when Twilio got the message, for one fetched from its list later (the
    webhook missed it). It is stored as the message's ``received_at`` and its check-in's
    time, so a check-in recorded since stays the citizen's latest; the alert it answers
    is the latest sent by then; and an opt-out or opt-in recorded since wins over it
    (it is kept, not acted on, and gets no reply). Twilio keeps the order too: its own
    opt-out list follows the person's last STOP or START.
    """
    if not message_sid or not from_number:
        raise ValueError("an inbound SMS needs its MessageSid and From")
    kind, status = classify(body, opt_out_type)
    existing = InboundMessage.objects.filter(provider_message_id=message_sid).select_related("citizen").first()
    if existing is not None:
        return _duplicate(existing)
    try:
        with transaction.atomic():
            result = _record(message_sid, from_number, to_number, body, kind, status, sent_at)
    except IntegrityError:
        # The same message arrived twice at once (the other request recorded it), or was
        # recorded once and erased since with its sender (only its sid is left).
        existing = InboundMessage.objects.select_related("citizen").filter(provider_message_id=message_sid).first()
        if existing is None:
            logger.info("inbound sms %s was recorded once and erased since; nothing changed", message_sid)
            return InboundResult(message=None, created=False, reply="")
        return _duplicate(existing)
    logger.info(
        "inbound sms %s from %s: %s%s%s",
        message_sid,
        mask_phone(from_number),
        kind,
        f" ({status})" if status else "",
        " (fetched later)" if sent_at is not None else "",
    )
    return result


def _superseded(kind: str, from_number: str, sent_at: datetime.datetime) -> bool:
    """Whether an opt-out or opt-in sent at ``sent_at`` was overtaken by one recorded since:
    a later START or STOP by SMS, or (for an opt-in) an opt-out dated after it."""
    if kind not in (Kind.OPT_OUT, Kind.OPT_IN):
        return False
    later = InboundMessage.objects.filter(
        kind__in=(Kind.OPT_OUT, Kind.OPT_IN), from_number=from_number[:32], received_at__gt=sent_at
    )
    if later.exists():
        return True
    if kind == Kind.OPT_IN:
        return Citizen.objects.filter(phone=from_number, phone_opted_out_at__gt=sent_at).exists()
    return False


def _record(
    message_sid: str,
    from_number: str,
    to_number: str,
    body: str,
    kind: str,
    status: str | None,
    sent_at: datetime.datetime | None,
) -> InboundResult:
    # First: a sid kept here (a duplicate, or a message erased since) ends it all.
    WebhookEvent.objects.create(provider=INBOUND_EVENT, event_id=message_sid)
    delivery = None
    citizen: Citizen | None = None
    if kind == Kind.CHECK_IN:
        # The alert being answered decides the citizen when that number got one.
        delivery = latest_alert_for_number(from_number, before=sent_at)
        if delivery is not None and delivery.citizen is not None and delivery.citizen.phone == from_number:
            citizen = delivery.citizen
    if citizen is None:
        citizen = _citizen_for_number(from_number)
    if kind == Kind.CHECK_IN and citizen is None:
        kind, status = Kind.OTHER, None  # nobody to check in: staff read it
    superseded = sent_at is not None and _superseded(kind, from_number, sent_at)
    now = timezone.now()
    message = InboundMessage.objects.create(
        provider_message_id=message_sid,
        from_number=from_number[:32],
        to_number=(to_number or "")[:32],
        body=body or "",
        kind=kind,
        citizen=citizen,
        received_at=sent_at or now,
        fetched_at=now if sent_at is not None else None,
    )
    if superseded:
        logger.info("inbound sms %s: %s overtaken by one recorded since; not acted on", message_sid, kind)
        return InboundResult(message=message, created=True, reply="")
    if kind == Kind.OPT_OUT:
        opt_out_phone(from_number, source="sms", at=sent_at)
    elif kind == Kind.OPT_IN:
        opt_in_phone(from_number, source="sms")
    elif kind == Kind.CHECK_IN and citizen is not None and status is not None:
        alert: Alert | None = delivery.alert if delivery is not None else None
        record_check_in(
            citizen,
            status,
            source=CheckIn.Source.SMS,
            raw_text=body or "",
            alert=alert,
            inbound_message=message,
            at=sent_at,
        )
    return InboundResult(
        message=message, created=True, reply=reply_for(kind, citizen=citizen, status=status, body=body)
    )


def _duplicate(message: InboundMessage) -> InboundResult:
    status = None
    if message.kind == Kind.CHECK_IN:
        check_in = CheckIn.objects.filter(inbound_message=message).only("status").first()
        status = check_in.status if check_in else None
    logger.info("inbound sms %s already recorded; nothing changed", message.provider_message_id)
    reply = reply_for(message.kind, citizen=message.citizen, status=status, body=message.body)
    return InboundResult(message=message, created=False, reply=reply)
