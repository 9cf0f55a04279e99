"""How long personal data is kept: the daily retention pass (``alerts.tasks.apply_retention``).

Kept while the citizen is registered, and erased with them (``registrations.erasure``):
their registration, presences (ended ones too), household, check-ins, the SMS they sent
from their number, and the deliveries of alerts to their addresses.

Deleted once it has served its purpose, a stated time after (settings, in days):

- **Sessions** past their expiry (what ``manage.py clearsessions`` does), every day.
- **Verification codes and links** ``RETENTION_VERIFICATION_DAYS`` (30) after they
  expired, used or not, with the address they went to. Kept longer: those of a
  registration with no verified contact, which go with it (below): they are its signs
  of life (a code asked for) and its proof of having been confirmed once (a used one,
  before both contacts were changed), which that rule reads.
- **SMS from numbers that were nobody's** ``RETENTION_INBOUND_UNKNOWN_DAYS`` (90) after
  they were dealt with: opt-out, opt-in and HELP messages when they came (they were
  acted on at once), messages for staff once staff marked them handled. One nobody
  marked stays in the console's inbox, counted as open, until somebody does: a stranded
  person's "I am at the airport" is never deleted unread.
- **Registrations never confirmed** (no contact verified, ever)
  ``RETENTION_UNVERIFIED_REGISTRATION_DAYS`` (90) after their last sign of life:
  registering, a change, a code asked for, an alert sent to them (an approver may include
  unverified contacts in an urgent alert), a check-in, an SMS. Never while they are, or
  are going to be, in an area at the highest advisory level, whatever the date: there,
  they may yet be included in an alert. Erased as a deletion erases
  (``erase_citizen``), at most ``MAX_ERASURES_PER_RUN`` a day, oldest first.
- **The development outbox's messages** ``RETENTION_OUTBOX_DAYS`` (30) after they were
  "sent" (a staging deployment keeps everything it would have sent there).
- **Staff sign-in records** (django-axes: failed attempts, the log of sign-ins and
  sign-outs, with the address and browser they came from) ``RETENTION_SIGN_IN_DAYS``
  (90) after the attempt. A lock-out lasts ``AXES_COOLOFF_HOURS``, so no record deleted
  still locks anyone out; the setting's floor keeps it so.

Kept on purpose, with no time limit here: the audit trail (who raised, approved, aborted,
exported what: the post's accountability, and it names staff, not citizens' contacts;
an erasure removes a citizen from it), and deliveries (kept while their citizen is
registered, as the history of what each was told, and erased with them; those to staff
test recipients name staff).

Not here: provider event keys (``prune_webhook_events``, a week, hourly); what the
providers keep.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field
from importlib import import_module

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

logger = logging.getLogger(__name__)

#: registrations erased by one pass, at most: the rest wait for the next day's, so that
#: a backlog never holds a worker of the ``celery`` queue (fan-outs, codes) for long.
MAX_ERASURES_PER_RUN = 1000


@dataclass
class RetentionReport:
    """Rows deleted per rule by one pass; ``sessions_cleared`` is False when the session
    engine does not implement clearing expired sessions (Django's own all do)."""

    sessions_cleared: bool = False
    verifications: int = 0
    inbound_messages: int = 0
    unverified_citizens: int = 0
    outbox_messages: int = 0
    sign_in_records: int = 0
    failed_erasures: list[int] = field(default_factory=list)


def apply_retention(now: datetime.datetime | None = None) -> RetentionReport:
    """Apply every rule of this module once; returns what went."""
    now = now or timezone.now()
    report = RetentionReport()
    report.sessions_cleared = clear_expired_sessions()
    report.outbox_messages = prune_outbox(now)
    report.verifications = prune_verifications(now)
    report.inbound_messages = prune_unknown_inbound(now)
    report.sign_in_records = prune_sign_in_records(now)
    report.unverified_citizens, report.failed_erasures = erase_unconfirmed_registrations(now)
    logger.info(
        "retention: sessions cleared=%s, %d verifications, %d inbound SMS from unknown numbers, "
        "%d never-confirmed registrations, %d outbox messages, %d staff sign-in records deleted",
        report.sessions_cleared,
        report.verifications,
        report.inbound_messages,
        report.unverified_citizens,
        report.outbox_messages,
        report.sign_in_records,
    )
    return report


def _days(name: str) -> datetime.timedelta:
    return datetime.timedelta(days=getattr(settings, name))


def clear_expired_sessions() -> bool:
    """Delete expired sessions, as ``manage.py clearsessions`` does (the database engine
    deletes the rows; cookie and cache sessions expire by themselves); False when the
    session engine does not implement it."""
    engine = import_module(settings.SESSION_ENGINE)
    try:
        engine.SessionStore.clear_expired()
    except NotImplementedError:
        return False
    return True


def prune_verifications(now: datetime.datetime) -> int:
    """Delete verifications that expired ``RETENTION_VERIFICATION_DAYS`` ago (module
    docstring); returns how many."""
    from registrations.models import Verification

    deleted, _ = (
        Verification.objects.filter(expires_at__lt=now - _days("RETENTION_VERIFICATION_DAYS"))
        .filter(Q(citizen__phone_verified_at__isnull=False) | Q(citizen__email_verified_at__isnull=False))
        .delete()
    )
    return deleted


def prune_unknown_inbound(now: datetime.datetime) -> int:
    """Delete SMS from numbers that were nobody's, ``RETENTION_INBOUND_UNKNOWN_DAYS``
    after they were dealt with (module docstring); returns how many."""
    from alerts.models import InboundMessage

    cutoff = now - _days("RETENTION_INBOUND_UNKNOWN_DAYS")
    for_staff = InboundMessage.Kind.OTHER
    _, deleted = (
        InboundMessage.objects.filter(citizen__isnull=True)
        .filter(Q(~Q(kind=for_staff), received_at__lt=cutoff) | Q(kind=for_staff, handled_at__lt=cutoff))
        .delete()
    )
    return deleted.get(InboundMessage._meta.label, 0)


def prune_outbox(now: datetime.datetime) -> int:
    """Delete development-outbox messages older than ``RETENTION_OUTBOX_DAYS``."""
    from alerts.models import OutboxMessage

    deleted, _ = OutboxMessage.objects.filter(created_at__lt=now - _days("RETENTION_OUTBOX_DAYS")).delete()
    return deleted


def prune_sign_in_records(now: datetime.datetime) -> int:
    """Delete django-axes' records of staff sign-ins older than ``RETENTION_SIGN_IN_DAYS``
    (module docstring); returns how many."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    cutoff = now - _days("RETENTION_SIGN_IN_DAYS")
    deleted = 0
    for model in (AccessAttempt, AccessFailureLog, AccessLog):
        count, _ = model.objects.filter(attempt_time__lt=cutoff).delete()
        deleted += count
    return deleted


def unconfirmed_registrations(now: datetime.datetime):  # type: ignore[no-untyped-def]
    """Citizens the never-confirmed rule would erase at ``now``, oldest first."""
    from alerts.levels import highest_level
    from alerts.models import Area, CheckIn, Delivery, InboundMessage
    from registrations.models import Citizen, Presence, Verification

    cutoff = now - _days("RETENTION_UNVERIFIED_REGISTRATION_DAYS")
    citizen = OuterRef("pk")
    recent = (
        Exists(Verification.objects.filter(citizen=citizen, created_at__gte=cutoff))
        | Exists(Delivery.objects.filter(citizen=citizen, created_at__gte=cutoff))
        | Exists(CheckIn.objects.filter(citizen=citizen, created_at__gte=cutoff))
        | Exists(InboundMessage.objects.filter(citizen=citizen, received_at__gte=cutoff))
    )
    confirmed_once = Exists(Verification.objects.filter(citizen=citizen, used_at__isnull=False))
    candidates = (
        Citizen.objects.filter(
            phone_verified_at__isnull=True,
            email_verified_at__isnull=True,
            created_at__lt=cutoff,
            updated_at__lt=cutoff,
        )
        .exclude(confirmed_once)
        .exclude(recent)
    )
    top = list(Area.objects.filter(level=highest_level()).values_list("country", "region"))
    if top:
        places = Q()
        for country, region in top:
            places |= Q(country=country) if not region else Q(country=country, region=region)
        # Not over: not ended, and not left before today (a trip still to come counts).
        today = timezone.localdate(now, timezone=timezone.get_default_timezone())
        there = Presence.objects.filter(citizen=citizen, ended_at__isnull=True).filter(
            Q(departure_date__isnull=True) | Q(departure_date__gte=today)
        )
        candidates = candidates.exclude(Exists(there.filter(places)))
    return candidates.order_by("created_at", "pk")


def erase_unconfirmed_registrations(now: datetime.datetime) -> tuple[int, list[int]]:
    """Erase up to ``MAX_ERASURES_PER_RUN`` registrations never confirmed (module
    docstring), each in its own transaction; returns how many went, and the ids of
    those whose erasure failed (logged; tried again the next day)."""
    from registrations.erasure import erase_citizen
    from registrations.models import Citizen

    erased = 0
    failed: list[int] = []
    for pk in list(unconfirmed_registrations(now).values_list("pk", flat=True)[:MAX_ERASURES_PER_RUN]):
        try:
            with transaction.atomic():
                # Asked again under the row's lock: a code confirmed, or an alert sent to
                # them, since the list was read keeps them.
                if Citizen.objects.select_for_update().filter(pk=pk).exists() and (
                    unconfirmed_registrations(now).filter(pk=pk).exists()
                ):
                    erased += erase_citizen(pk).erased
        except Exception:
            logger.exception("retention: could not erase never-confirmed registration %s", pk)
            failed.append(pk)
    return erased, failed
