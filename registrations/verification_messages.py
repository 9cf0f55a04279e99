"""Verification codes and email links reach the citizen once, even when Redis fails them.

A registration's code and link travel to a worker through Redis, in one task published
after the registration commits (``alerts.notify.queue_messages``). Redis may refuse the
publish (it is down), or lose the task (it restarted: it keeps nothing on disk). The
person would wait for ever for a code. So each message is also recorded on its
``Verification`` row, in PostgreSQL:

- ``queued_at``: when its task was last published. Set in the row's INSERT (no extra
  query on a registration); set to None when the publish failed (``not_queued``).
- ``sent_at``: set by the task that sends it, in one conditional UPDATE, *before* the
  provider is asked (``claim``): only one task can, however many carry the message,
  and none once the verification was used or expired. Cleared only when the provider
  did not take it and it will be tried again (``release``), or when the beat takes back
  a claim whose worker died (below).
- ``answered_at``: set once the provider answered that claim (``answered``): it took the
  message, or refused it for good. Never sent again after that.

The beat (``requeue_unsent``, every ``VERIFICATION_REQUEUE_EVERY_SECONDS``) publishes
again the messages still worth sending (not expired within
``VERIFICATION_REQUEUE_MIN_VALID_SECONDS``, not used) that no task claimed: at once when
their publish failed, and when their task is overdue: queued more than
``VERIFICATION_REQUEUE_AFTER_SECONDS`` ago, and at least as long ago as it had waited
before, up to ``MAX_BACKOFF_FACTOR`` times that (a queue that is merely long gets a copy
of each task now and then, not at every beat). A copy and a late original are harmless: the code is derived from the row
(``services.verification_code``), so both carry the same text, and whichever runs first
claims it; the other sends nothing.

A worker killed between its claim and the provider's answer (OOM, SIGKILL, machine
lost) leaves the message claimed and unanswered. The beat takes such a claim back once
it is ``VERIFICATION_CLAIM_STALE_SECONDS`` old and sends the message again, the same
code, at most ``VERIFICATION_CLAIM_MAX_RESENDS`` times a verification, while it is
still worth sending (as above), and not while its channel is paused (the beat waits for
the pause's end). That bound is longer than a live task can hold a claim (its hard
time limit, ``SINGLE_MESSAGE_TIME_LIMIT_SECONDS``, plus the provider's timeout; the
settings refuse a shorter one), so a slow worker is never raced. The provider may have
taken the first before the worker died: the person may then get the same code twice.
That is accepted here, unlike for an alert's delivery (DESIGN: exactly once per address
per alert): the copy is the same code and does no harm, and a code that never comes
keeps a person from registering; Twilio is not asked first (see ``abandoned``).
"""

from __future__ import annotations

import datetime
import logging
from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, DurationField, ExpressionWrapper, F, Q, QuerySet, Value
from django.db.models.functions import Least
from django.utils import timezone

from registrations.models import Verification

logger = logging.getLogger(__name__)

#: An overdue task is copied at most every this many ``VERIFICATION_REQUEUE_AFTER_SECONDS``.
MAX_BACKOFF_FACTOR = 4


def claim(verification_id: int) -> datetime.datetime | None:
    """Claim a verification's message for the provider: the time of the claim (pass it to
    ``release``), or None when it must not be sent (another task claimed it, it was used
    or expired, or the row is gone)."""
    now = timezone.now()
    claimed = Verification.objects.filter(
        pk=verification_id, sent_at__isnull=True, used_at__isnull=True, expires_at__gt=now
    ).update(sent_at=now)
    return now if claimed else None


def answered(verification_id: int, claimed_at: datetime.datetime) -> None:
    """The provider answered the claim made at ``claimed_at``: it took the message or
    refused it for good. The message is not sent again."""
    Verification.objects.filter(pk=verification_id, sent_at=claimed_at).update(answered_at=timezone.now())


def release(verification_id: int, claimed_at: datetime.datetime, *, retry_at: datetime.datetime) -> None:
    """The provider did not take the message claimed at ``claimed_at``; it will be tried
    again at ``retry_at`` (the beat queues it again if that task is lost)."""
    Verification.objects.filter(pk=verification_id, sent_at=claimed_at).update(sent_at=None, queued_at=retry_at)


def postpone(verification_ids: list[int], until: datetime.datetime) -> None:
    """Their messages were queued again for ``until`` (a retry, a paused channel): the
    beat leaves them alone until then."""
    Verification.objects.filter(pk__in=verification_ids, sent_at__isnull=True).update(queued_at=until)


def not_queued(verification_ids: list[int]) -> None:
    """Their messages could not be published: the beat's next pass queues them."""
    Verification.objects.filter(pk__in=verification_ids, sent_at__isnull=True).update(queued_at=None)


def unsent(now: datetime.datetime) -> QuerySet[Verification]:
    """Verifications whose message is still worth sending, no task claimed it, and whose
    task failed to publish or is overdue (see the module's docstring)."""
    worth_sending_until = now + datetime.timedelta(seconds=settings.VERIFICATION_REQUEUE_MIN_VALID_SECONDS)
    return due_again(
        Verification.objects.filter(sent_at__isnull=True, used_at__isnull=True, expires_at__gt=worth_sending_until),
        now,
    )


def due_again(rows: QuerySet, now: datetime.datetime) -> QuerySet:
    """Of ``rows`` (with ``queued_at`` and ``created_at``), those whose task failed to
    publish, or is overdue: queued ``VERIFICATION_REQUEUE_AFTER_SECONDS`` or more ago, and
    at least as long ago as it had waited before, up to ``MAX_BACKOFF_FACTOR`` times that."""
    after = datetime.timedelta(seconds=settings.VERIFICATION_REQUEUE_AFTER_SECONDS)
    return rows.alias(
        waited=ExpressionWrapper(Value(now, output_field=DateTimeField()) - F("queued_at"), DurationField()),
        waited_before=Least(
            ExpressionWrapper(F("queued_at") - F("created_at"), DurationField()),
            Value(MAX_BACKOFF_FACTOR * after, output_field=DurationField()),
        ),
    ).filter(Q(queued_at__isnull=True) | Q(queued_at__lte=now - after, waited__gte=F("waited_before")))


def abandoned(now: datetime.datetime) -> QuerySet[Verification]:
    """Verifications whose message a task claimed ``VERIFICATION_CLAIM_STALE_SECONDS``
    or more ago and whose provider's answer never came (the worker died), still worth
    sending (as ``unsent``), sent again fewer than ``VERIFICATION_CLAIM_MAX_RESENDS``
    times, on a channel that is not paused.

    Twilio could be asked first whether it has the code already (as the sweep asks about
    an alert's SMS whose worker died): not done. It would save one SMS only when the
    worker died after Twilio took the message, at the price of a provider request that
    may itself fail on the beat's path, and an email cannot be asked about at all; the
    copy is the same code, and harmless.
    """
    worth_sending_until = now + datetime.timedelta(seconds=settings.VERIFICATION_REQUEUE_MIN_VALID_SECONDS)
    stale_before = now - datetime.timedelta(seconds=settings.VERIFICATION_CLAIM_STALE_SECONDS)
    from alerts.services import pauses

    return Verification.objects.filter(
        sent_at__isnull=False,
        sent_at__lte=stale_before,
        answered_at__isnull=True,
        used_at__isnull=True,
        expires_at__gt=worth_sending_until,
        resends__lt=settings.VERIFICATION_CLAIM_MAX_RESENDS,
    ).exclude(channel__in=pauses.paused_channels(now, single_messages=True))


def requeue_unsent(now: datetime.datetime | None = None) -> int:
    """Beat: publish again the messages ``unsent`` finds, and those ``abandoned`` finds,
    whose claim it takes back (up to ``VERIFICATION_REQUEUE_BATCH`` a pass, those
    expiring first first), one task per citizen (a registration's code and link
    together); returns how many messages.

    Rows another pass (or a task finishing its claim) holds are skipped; each is marked
    queued before its task is published, after the marks commit, and marked not queued
    again if that fails.
    """
    from alerts.notify import publish_messages
    from registrations.services import _verification_message, code_to_send_again

    now = now or timezone.now()
    by_citizen: dict[int, list[dict]] = defaultdict(list)
    stale: list[int] = []
    with transaction.atomic():
        rows = list(
            unsent(now)
            .select_related("citizen")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("expires_at")[: settings.VERIFICATION_REQUEUE_BATCH]
        )
        taken_back = list(
            abandoned(now)
            .select_related("citizen")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("expires_at")[: max(0, settings.VERIFICATION_REQUEUE_BATCH - len(rows))]
        )
        if taken_back:
            # Locked: a worker answering its claim now waits for this commit, then finds
            # the claim gone and records nothing; the copy's task claims it afresh.
            Verification.objects.filter(pk__in=[row.pk for row in taken_back]).update(
                sent_at=None, resends=F("resends") + 1
            )
            logger.warning(
                "verification messages sent again: claimed over %ss ago, no answer from the provider "
                "(their worker died): %d",
                settings.VERIFICATION_CLAIM_STALE_SECONDS,
                len(taken_back),
            )
            rows += taken_back
        if not rows:
            return 0
        for row in rows:
            code = ""
            if row.channel == Verification.Channel.SMS:
                code = code_to_send_again(row) or ""
                if not code:  # made before codes were derived: only its own task knows it
                    stale.append(row.pk)
                    continue
            by_citizen[row.citizen_id].append(_verification_message(row.citizen, row, code))
        Verification.objects.filter(pk__in=[row.pk for row in rows]).update(queued_at=now)
        if stale:
            # Never asked about again: the person can ask for a new code.
            Verification.objects.filter(pk__in=stale).update(queued_at=F("expires_at"))
            logger.warning("%d verification code(s) cannot be sent again: made before codes were derived", len(stale))

        def publish() -> None:
            for payloads in by_citizen.values():
                publish_messages(payloads)

        transaction.on_commit(publish)
    count = sum(len(payloads) for payloads in by_citizen.values())
    if count:
        logger.warning("verification messages queued again (their task failed to publish or is overdue): %d", count)
    return count
