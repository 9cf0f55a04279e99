"""The fan-out: audience -> deliveries -> provider, exactly once per address.

``start_fan_out`` reads the audience in keyset-ordered chunks, phase by phase (first
chunk on both channels, then email, then SMS: ``fan_out_phases``), inserts each chunk's
deliveries in one statement against the unique key (alert, channel, address), and
queues send tasks per chunk of delivery ids. It keeps a phase, a cursor and a lease on
the alert, so a fan-out cut short (a killed worker) is resumed by the sweep where it
stopped.

``send_delivery_chunk`` claims deliveries before any provider call: in one transaction
it locks claimable rows (QUEUED, or RETRY that is due) of an alert that is still SENDING
with ``FOR UPDATE SKIP LOCKED`` and moves them to SENDING. A task that runs twice, or
two workers given the same ids, claim each row once. Email goes in provider batches;
SMS one request per message under the shared per-sender rate limit. Outcomes are
written back in bulk, each UPDATE conditional on the row still being SENDING.

``sweep_deliveries`` (beat) finishes what stalled: see its docstring.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import datetime
import logging
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, CharField, DateTimeField, Exists, F, OuterRef, Q, Value, When
from django.utils import timezone

from alerts.channels import Channel, ChannelError, OutgoingMessage, SendResult, get_channel
from alerts.models import Alert, ChannelPause, Delivery
from alerts.services import pauses, restore_guard
from alerts.services.audience import iter_audience
from alerts.services.locks import one_at_a_time
from alerts.services.messages import AlertRenderer

logger = logging.getLogger(__name__)

D = Delivery.State
A = Alert.State


@dataclass
class FanOutReport:
    alert_id: int
    started: bool = False  # this call ran (or resumed) the fan-out
    queued: int = 0  # deliveries this call queued for sending
    queued_tasks: int = 0
    finished: bool = False  # every delivery has been created
    expired: bool = False  # the alert's expires_at had passed: this call created nothing (more)


@dataclass
class ChunkReport:
    claimed: int = 0
    sent: int = 0
    retry: int = 0
    failed: int = 0
    skipped: int = 0
    paused: bool = False  # the channel is paused: the rest was handed back to the sweep


@dataclass
class SweepReport:
    outcome_unknown: int = 0
    reconciled_sent: int = 0  # stale SMS found at the provider
    reconciled_retry: int = 0  # stale SMS not at the provider: sent again
    skipped_aborted: int = 0
    skipped_expired: int = 0
    requeued: int = 0
    fanouts_resumed: list[int] = field(default_factory=list)
    alerts_finished: list[int] = field(default_factory=list)
    overlapped: bool = False  # another sweep was running: this one did nothing


# --- fan-out ---------------------------------------------------------------------------


def _task_size(channel: str) -> int:
    return settings.SMS_TASK_CHUNK if channel == Delivery.Channel.SMS else settings.EMAIL_BATCH_SIZE


def send_queue(channel: str) -> str:
    """The queue of ``channel``'s send tasks (``ALERT_SEND_QUEUES``): email never waits behind SMS."""
    return settings.ALERT_SEND_QUEUES[channel]


def queue_send_tasks(alert_id: int, channel: str, delivery_ids: Sequence[int]) -> int:
    """Queue send tasks for ``delivery_ids`` after commit, in task-sized chunks; returns how many."""
    from alerts.tasks import send_delivery_chunk as send_task

    size = _task_size(channel)
    queue = send_queue(channel)
    chunks = [list(delivery_ids[i : i + size]) for i in range(0, len(delivery_ids), size)]
    for chunk in chunks:
        transaction.on_commit(lambda chunk=chunk: send_task.apply_async((alert_id, channel, chunk), queue=queue))
    return len(chunks)


def _unexpired(now: datetime.datetime) -> Q:
    """Alerts whose information still holds at ``now`` (no expiry, or a later one)."""
    return Q(expires_at__isnull=True) | Q(expires_at__gt=now)


def end_expired_before_start(now: datetime.datetime, alert_id: int | None = None) -> list[int]:
    """SCHEDULED -> ABORTED for approved alerts whose ``expires_at`` passed before their
    fan-out started (all of them, or only ``alert_id``); returns their ids.

    Nothing was sent, nor will be: the alert ends as an abort does before sending, with
    ``aborted_by`` empty, ``aborted_at`` and ``finished_at`` set, and an audit entry
    ``expire_alert`` (no actor) saying why, so staff do not look for who aborted it.
    Rows locked by a fan-out starting meanwhile are passed over: that one either
    started before the expiry or finds the alert no longer SCHEDULED.
    """
    from alerts.console.audit import record_audit

    with transaction.atomic():
        expired = Alert.objects.select_for_update(skip_locked=True).filter(state=A.SCHEDULED, expires_at__lte=now)
        if alert_id is not None:
            expired = expired.filter(pk=alert_id)
        ended = list(expired.order_by("pk"))
        if not ended:
            return []
        Alert.objects.filter(pk__in=[alert.pk for alert in ended]).update(
            state=A.ABORTED, aborted_at=now, finished_at=now, updated_at=now
        )
        for alert in ended:
            record_audit(
                None,
                "expire_alert",
                alert,
                {"state": A.SCHEDULED, "send_at": alert.send_at, "expires_at": alert.expires_at},
                {"state": A.ABORTED, "reason": "expired before sending started"},
            )
    logger.warning("alerts %s expired before their fan-out started: aborted, nothing sent", [a.pk for a in ended])
    return [alert.pk for alert in ended]


def _close_expired_fan_out(alert_id: int) -> bool:
    """End the fan-out of a sending alert whose ``expires_at`` has passed: no more
    deliveries are created. Returns True if it did.

    ``fanout_done_at`` is set as if every delivery had been created, so the alert ends
    SENT once those created are final: the sweep skips the waiting ones "expired" and
    send tasks claim nothing of it.
    """
    now = timezone.now()
    closed = Alert.objects.filter(
        pk=alert_id, state=A.SENDING, fanout_done_at__isnull=True, expires_at__lte=now
    ).update(fanout_done_at=now, fanout_heartbeat_at=now)
    if not closed:
        return False
    logger.info("fan-out of alert %s stopped: the alert expired", alert_id)
    finish_alert_if_done(alert_id)
    return True


def _take_fan_out(alert_id: int, now: datetime.datetime) -> bool:
    """Claim the right to run the alert's fan-out: start it, or take over a stalled one.

    An alert past its ``expires_at`` is never started (``end_expired_before_start``
    ends it); a stalled one may be taken over, to be closed (``_close_expired_fan_out``).
    """
    started = (
        Alert.objects.filter(pk=alert_id, state=A.SCHEDULED)
        .filter(Q(send_at__isnull=True) | Q(send_at__lte=now))
        .filter(_unexpired(now))
        .update(state=A.SENDING, started_at=now, fanout_heartbeat_at=now, updated_at=now)
    )
    if started:
        return True
    stale = now - datetime.timedelta(seconds=settings.ALERT_FANOUT_STALL_SECONDS)
    return bool(
        Alert.objects.filter(pk=alert_id, state=A.SENDING, fanout_done_at__isnull=True)
        .filter(Q(fanout_heartbeat_at__isnull=True) | Q(fanout_heartbeat_at__lt=stale))
        .update(fanout_heartbeat_at=now)
    )


class _Stopped(Exception):
    """The alert left SENDING (aborted) or expired while a chunk was being written."""


#: The fan-out's first chunk of citizens: small, so the first messages leave at once;
#: the next chunks double up to ``ALERT_FANOUT_CHUNK``.
FIRST_CHUNK = 1000

#: A fan-out's phases, each over the audience in key order: which channels it creates
#: deliveries on, and how many citizens it reads at most (None: all).
Phase = tuple[tuple[str, ...], int | None]


def fan_out_phases(channels: Sequence[str]) -> list[Phase]:
    """The phases of a fan-out on ``channels``.

    On both channels: the first ``FIRST_CHUNK`` citizens on both, so the first SMS and
    email leave within a second; then email to everyone, then SMS to everyone (the first
    chunk's rows exist already and are passed over). Email is handed over 1,000
    recipients a request and so is done in seconds when its deliveries exist early; SMS
    go at the provider's rate, which the first chunk's SMS keep busy meanwhile. So nobody
    waits for an email behind the SMS queue, and the SMS are not later for it.
    """
    channels = tuple(channels)
    if len(channels) < 2:
        return [(channels, None)]
    return [(channels, FIRST_CHUNK), (("email",), None), (("sms",), None)]


def start_fan_out(alert_id: int) -> FanOutReport:
    """Create and queue the deliveries of an approved alert that is due.

    SCHEDULED -> SENDING (one conditional UPDATE, so only one caller starts it), then
    phase by phase (``fan_out_phases``), per audience chunk: insert deliveries, advance
    the cursor and lease, queue send tasks after commit. A second call while the fan-out
    runs does nothing; a call after the lease went stale (``ALERT_FANOUT_STALL_SECONDS``)
    resumes from the phase and cursor it reached. Stops at once when the alert is aborted.

    Past the alert's ``expires_at`` nothing more is created: an alert not yet started
    ends ABORTED (``end_expired_before_start``); one under way stops at its next chunk
    and ends SENT once what was created is final (``_close_expired_fan_out``).
    """
    report = FanOutReport(alert_id=alert_id)
    now = timezone.now()
    if end_expired_before_start(now, alert_id):
        report.expired = True
        return report
    if not _take_fan_out(alert_id, now):
        return report
    if _close_expired_fan_out(alert_id):  # taken over after the expiry
        report.expired = True
        return report
    report.started = True
    alert = Alert.objects.get(pk=alert_id)
    # Email tasks are one SendGrid request each: group them by the language the text is
    # in (the recipient's, else the fallback), so a task carries up to 1,000 of one text.
    texts = set(alert.texts.values_list("language", flat=True))

    def text_language(language: str) -> str:
        return language if language in texts else alert.fallback_language

    def queue(marked: list[tuple[int, str, str]]) -> None:
        groups: dict[tuple[str, str], list[int]] = {}
        for pk, ch, language in marked:
            # Email tasks are per text language, SMS tasks not.
            groups.setdefault((ch, text_language(language) if ch == Delivery.Channel.EMAIL else ""), []).append(pk)
        for (ch, _language), ids in sorted(groups.items()):
            report.queued += len(ids)
            report.queued_tasks += queue_send_tasks(alert_id, ch, sorted(ids))

    in_sql = connection.vendor == "postgresql" and not alert.is_test
    phases = fan_out_phases(alert.channels)
    for number in range(alert.fanout_phase, len(phases)):
        channels, limit = phases[number]
        cursor = alert.fanout_cursor if number == alert.fanout_phase else 0
        fan_out = _fan_out_in_sql if in_sql else _fan_out_orm
        kept = fan_out(alert, channels, cursor, limit, queue)
        if kept and number + 1 < len(phases):
            now = timezone.now()
            kept = bool(
                Alert.objects.filter(_unexpired(now), pk=alert_id, state=A.SENDING).update(
                    fanout_phase=number + 1, fanout_cursor=0, fanout_heartbeat_at=now
                )
            )
        if not kept:
            if _close_expired_fan_out(alert_id):
                report.expired = True
                return report
            logger.info("fan-out of alert %s stopped: the alert is no longer sending", alert_id)
            return report
    now = timezone.now()
    report.finished = bool(
        Alert.objects.filter(pk=alert_id, state=A.SENDING, fanout_done_at__isnull=True).update(
            fanout_done_at=now, fanout_heartbeat_at=now
        )
    )
    logger.info(
        "fan-out of alert %s: %d deliveries queued in %d send tasks",
        alert_id,
        report.queued,
        report.queued_tasks,
    )
    finish_alert_if_done(alert_id)
    return report


#: Queues the send tasks of new deliveries, given as (id, channel, language).
Enqueue = Callable[[list[tuple[int, str, str]]], None]


def _fan_out_orm(alert: Alert, channels: tuple[str, ...], cursor: int, limit: int | None, queue: Enqueue) -> bool:
    """One phase of the fan-out through the ORM (test alerts, databases other than
    PostgreSQL): per chunk a ``bulk_create(ignore_conflicts=True)``, then the rows not
    yet queued are stamped and queued. Returns False when the alert stopped sending
    (aborted, or past its expiry)."""
    first = min(limit or FIRST_CHUNK, FIRST_CHUNK)
    chunks = iter_audience(alert, after=cursor, chunk_size=settings.ALERT_FANOUT_CHUNK, first_chunk_size=first)
    for chunk in chunks:
        rows: list[Delivery] = []
        addresses: dict[str, list[str]] = {ch: [] for ch in channels}
        for person in chunk:
            for ch, address in (("sms", person.phone), ("email", person.email)):
                if ch in addresses and address:
                    rows.append(
                        Delivery(
                            alert_id=alert.pk,
                            channel=ch,
                            address=address,
                            citizen_id=person.citizen_id,
                            language=person.language,
                        )
                    )
                    addresses[ch].append(address)
        try:
            with transaction.atomic():
                Delivery.objects.bulk_create(rows, ignore_conflicts=True, batch_size=5000)
                now = timezone.now()
                kept = Alert.objects.filter(_unexpired(now), pk=alert.pk, state=A.SENDING).update(
                    fanout_cursor=chunk[-1].key, fanout_heartbeat_at=now
                )
                if not kept:
                    raise _Stopped
                for ch, chunk_addresses in addresses.items():
                    if not chunk_addresses:
                        continue
                    # Rows never queued: this chunk's new ones, or those a killed fan-out
                    # inserted without queueing. Lost tasks are the sweep's business.
                    marked = _mark_enqueued(alert.pk, ch, chunk_addresses, now)
                    queue([(pk, ch, language) for pk, language in marked])
        except _Stopped:
            return False
        if limit is not None:
            return True  # the phase's one chunk
    return True


_INSERT_DELIVERIES = """
    WITH chunk (id, language, phone, phone_verified_at, phone_opted_out_at, email, email_verified_at,
                email_opted_out_at) AS ({audience}),
    new AS (
        INSERT INTO alerts_delivery (alert_id, channel, address, citizen_id, language, state, attempts,
            provider_message_id, error_code, error_reason, created_at, updated_at, enqueued_at)
        SELECT %s, s.channel, s.address, s.id, s.language, %s, 0, '', '', '', %s, %s, %s
        FROM ({branches}) AS s (channel, address, id, language)
        ON CONFLICT DO NOTHING
        RETURNING id, channel, language
    )
    SELECT id, channel, language FROM new
    UNION ALL SELECT max(id), '', count(*)::text FROM chunk
"""
_SMS_BRANCH = """SELECT 'sms', phone, id, language FROM chunk WHERE phone <> ''
    AND phone_opted_out_at IS NULL AND (phone_verified_at IS NOT NULL OR %s)"""
_EMAIL_BRANCH = """SELECT 'email', lower(email), id, language FROM chunk WHERE email <> ''
    AND email_opted_out_at IS NULL AND (email_verified_at IS NOT NULL OR %s)"""


def _fan_out_in_sql(alert: Alert, channels: tuple[str, ...], cursor: int, limit: int | None, queue: Enqueue) -> bool:
    """One phase of the fan-out on PostgreSQL: each chunk one statement, no Python object per row.

    ``INSERT INTO alerts_delivery ... SELECT`` from the audience query (keyset: ``id >
    cursor ORDER BY id LIMIT n``), ``ON CONFLICT DO NOTHING`` against the unique key,
    ``RETURNING`` the new rows, which are queued (``queue``) when the chunk commits
    with the cursor. With ``limit``, one chunk of that many citizens. Returns False
    when the alert stopped sending (aborted, or past its expiry).
    """
    from alerts.services.audience import audience_page

    branches, flags = [], []
    if Delivery.Channel.SMS in channels:
        branches.append(_SMS_BRANCH)
        flags.append(alert.include_unverified)
    if Delivery.Channel.EMAIL in channels:
        branches.append(_EMAIL_BRANCH)
        flags.append(alert.include_unverified)
    if not branches:
        return True
    last = cursor
    size = limit or FIRST_CHUNK
    while True:
        size = min(size, settings.ALERT_FANOUT_CHUNK)
        # Only citizens reachable on this phase's channels; the columns of _INSERT_DELIVERIES' chunk.
        audience = audience_page(alert, after=last, size=size, channels=channels)
        audience_sql, audience_params = audience.query.sql_with_params()
        sql = _INSERT_DELIVERIES.format(audience=audience_sql, branches=" UNION ALL ".join(branches))
        with transaction.atomic():
            now = timezone.now()
            with connection.cursor() as cursor:
                cursor.execute(sql, [*audience_params, alert.pk, D.QUEUED, now, now, now, *flags])
                records = cursor.fetchall()
            # The chunk's own row (its last id and size) has no channel; the rest are new deliveries.
            last_id, count = next((pk, int(n)) for pk, ch, n in records if not ch)
            if not count:
                return True
            kept = Alert.objects.filter(_unexpired(now), pk=alert.pk, state=A.SENDING).update(
                fanout_cursor=last_id, fanout_heartbeat_at=now
            )
            if not kept:
                transaction.set_rollback(True)
                return False
            queue([record for record in records if record[1]])
        if count < size or limit is not None:
            return True
        last = last_id
        size *= 2


def _mark_enqueued(alert_id: int, channel: str, addresses: list[str], now: datetime.datetime) -> list[tuple[int, str]]:
    """Stamp ``enqueued_at`` on the not yet queued deliveries to ``addresses``; their (id, language).

    One ``UPDATE ... RETURNING`` on PostgreSQL; a SELECT and an UPDATE elsewhere.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE alerts_delivery SET enqueued_at = %s"
                " WHERE alert_id = %s AND channel = %s AND address = ANY(%s)"
                " AND state = %s AND enqueued_at IS NULL RETURNING id, language",
                [now, alert_id, channel, addresses, D.QUEUED],
            )
            return sorted(cursor.fetchall())
    rows = list(
        Delivery.objects.filter(
            alert_id=alert_id, channel=channel, address__in=addresses, state=D.QUEUED, enqueued_at__isnull=True
        )
        .order_by("pk")
        .values_list("pk", "language")
    )
    Delivery.objects.filter(pk__in=[pk for pk, _language in rows]).update(enqueued_at=now)
    return rows


def finish_alert_if_done(alert_id: int) -> bool:
    """SENDING -> SENT once every delivery was created and is final. Returns True if it moved.

    The alert's row is locked first and the deliveries asked about after, in a statement
    of their own: something that makes final rows open again (``resend_outcome_unknown``)
    locks the alert first too, and a check that waited for it must see what it did. In
    one UPDATE ... WHERE NOT EXISTS, PostgreSQL re-checks a row it waited for against the
    statement's old snapshot of the deliveries, and marked the alert SENT over rows just
    queued again: no send task claims for a SENT alert, so they were never sent.
    """
    with transaction.atomic():
        alert = (
            Alert.objects.select_for_update()
            .filter(pk=alert_id, state=A.SENDING, fanout_done_at__isnull=False)
            .only("pk")
            .first()
        )
        if alert is None or Delivery.objects.filter(alert_id=alert_id, state__in=Delivery.OPEN_STATES).exists():
            return False
        now = timezone.now()
        return bool(Alert.objects.filter(pk=alert_id).update(state=A.SENT, finished_at=now, updated_at=now))


# --- sending ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Person:
    """What sending needs of a recipient who is a citizen: their name and links' ids."""

    pk: int
    full_name: str
    email: str


@dataclass(slots=True)
class ClaimedDelivery:
    """A delivery this worker claimed (now SENDING), with what sending it needs.

    Read in the claim's own statement, as plain values: building two model instances
    per recipient cost more than the rest of sending an email. Has the attributes of
    ``Delivery`` the renderer reads (``pk``, ``channel``, ``address``, ``language``,
    ``citizen``), so either can be rendered.
    """

    pk: int
    channel: str
    address: str
    language: str
    attempts: int
    error_code: str
    created_at: datetime.datetime
    citizen: Person | None
    opted_out: bool  # the citizen opted out on this channel since the fan-out

    @property
    def citizen_id(self) -> int | None:
        return self.citizen.pk if self.citizen is not None else None


def _claimed(row: Delivery) -> ClaimedDelivery:
    citizen = row.citizen
    opted_out = False
    if citizen is not None:
        at = citizen.phone_opted_out_at if row.channel == Delivery.Channel.SMS else citizen.email_opted_out_at
        opted_out = at is not None
    return ClaimedDelivery(
        pk=row.pk,
        channel=row.channel,
        address=row.address,
        language=row.language,
        attempts=row.attempts,
        error_code=row.error_code,
        created_at=row.created_at,
        citizen=Person(citizen.pk, citizen.full_name, citizen.email) if citizen is not None else None,
        opted_out=opted_out,
    )


def _claim(alert_id: int, channel: str, ids: Sequence[int], limit: int) -> list[ClaimedDelivery]:
    """Move up to ``limit`` claimable deliveries among ``ids`` to SENDING; return them.

    Claimable: QUEUED, or RETRY whose time has come, of an alert still SENDING and not
    past its ``expires_at``. Rows another worker holds are skipped (SKIP LOCKED), never
    waited for.
    """
    now = timezone.now()
    if connection.vendor == "postgresql":
        return _claim_sql(alert_id, channel, ids, limit, now)
    with transaction.atomic():
        rows = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("citizen")
            .filter(pk__in=ids, alert_id=alert_id, channel=channel, alert__state=A.SENDING)
            .filter(Q(alert__expires_at__isnull=True) | Q(alert__expires_at__gt=now))
            .filter(
                Q(state=D.QUEUED) | Q(state=D.RETRY, next_attempt_at__lte=now) | Q(state=D.RETRY, next_attempt_at=None)
            )
            .order_by("pk")[:limit]
        )
        if rows:
            Delivery.objects.filter(pk__in=[r.pk for r in rows]).update(
                state=D.SENDING, claimed_at=now, attempts=F("attempts") + 1, updated_at=now
            )
    for row in rows:
        row.attempts += 1
    return [_claimed(row) for row in rows]


_CLAIM_SQL = """
    WITH picked AS (
        SELECT mine.id FROM unnest(%s::bigint[]) AS wanted (id) CROSS JOIN LATERAL (
            SELECT d.id, d.alert_id, d.channel, d.state, d.next_attempt_at FROM alerts_delivery d
            WHERE d.id = wanted.id LIMIT 1 FOR UPDATE SKIP LOCKED
        ) AS mine
        WHERE mine.alert_id = %s AND mine.channel = %s
          AND (mine.state = %s OR (mine.state = %s AND (mine.next_attempt_at IS NULL OR mine.next_attempt_at <= %s)))
          AND EXISTS (SELECT FROM alerts_alert a WHERE a.id = %s AND a.state = %s
                      AND (a.expires_at IS NULL OR a.expires_at > %s))
        LIMIT %s
    ), claimed AS (
        UPDATE alerts_delivery d SET state = %s, claimed_at = %s, attempts = d.attempts + 1, updated_at = %s
        WHERE d.id = ANY(ARRAY(SELECT id FROM picked))
        RETURNING d.id, d.channel, d.address, d.language, d.attempts, d.error_code, d.created_at, d.citizen_id
    )
    SELECT claimed.id, claimed.channel, claimed.address, claimed.language, claimed.attempts, claimed.error_code,
           claimed.created_at, claimed.citizen_id, c.full_name, c.email, coalesce(c.opted_out, false)
    FROM claimed LEFT JOIN LATERAL (
        SELECT c.full_name, c.email, CASE WHEN claimed.channel = 'sms' THEN c.phone_opted_out_at IS NOT NULL
                                          ELSE c.email_opted_out_at IS NOT NULL END AS opted_out
        FROM registrations_citizen c WHERE c.id = claimed.citizen_id LIMIT 1
    ) AS c ON true
    ORDER BY claimed.id
"""


def _claim_sql(
    alert_id: int, channel: str, ids: Sequence[int], limit: int, now: datetime.datetime
) -> list[ClaimedDelivery]:
    """``_claim`` in one statement on PostgreSQL: lock (SKIP LOCKED), move to SENDING,
    and return each row with its citizen's name, email and opt-out on the channel.

    The ids are looked up one by one in the array's order (sorted here) and the look-ups
    stop at ``limit`` claimable rows: no ORDER BY over them, which would look up and lock
    every id of the task in every round (an SMS task's 500 ids locked ten times over for
    ten rounds of 50; 29 -> 23 us of PostgreSQL per SMS claimed)."""
    params = [sorted(ids), alert_id, channel, D.QUEUED, D.RETRY, now, alert_id, A.SENDING, now, limit]
    params += [D.SENDING, now, now]
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, params)
        records = cursor.fetchall()
    rows = []
    for pk, ch, address, language, attempts, error_code, created_at, citizen_id, name, email, opted_out in records:
        person = Person(citizen_id, name, email) if citizen_id is not None else None
        rows.append(ClaimedDelivery(pk, ch, address, language, attempts, error_code, created_at, person, opted_out))
    return rows


def _submit_sms(
    channel: Channel, messages: list[OutgoingMessage]
) -> concurrent.futures.Future[list[SendResult | ChannelError]]:
    """Hand SMS to the provider, one request each, under the shared per-sender rate limit.

    Returns at once with the future of the results when the channel sends in the
    background (Twilio's sender loop), else once they are sent.
    """
    from alerts.ratelimit import sms_rate_limiter

    submit = getattr(channel, "submit_batch", None)
    if messages and submit is not None:
        return submit(messages, limiter=sms_rate_limiter())  # type: ignore[no-any-return]
    done: concurrent.futures.Future[list[SendResult | ChannelError]] = concurrent.futures.Future()
    done.set_result(list(channel.send_batch(messages, limiter=sms_rate_limiter())) if messages else [])
    return done


def _backoff(attempts: int, retry_after: float | None, jitter: float | None = None) -> float:
    """Seconds before the next attempt: exponential from the base, capped, with jitter
    (a factor between 0.5 and 1.5: ``jitter``, else drawn here)."""
    base = settings.DELIVERY_RETRY_BASE_SECONDS * (2 ** max(0, attempts - 1))
    delay = min(settings.DELIVERY_RETRY_MAX_SECONDS, base) * (random.uniform(0.5, 1.5) if jitter is None else jitter)
    if retry_after:
        delay = max(delay, retry_after)
    return delay


def _mark(ids: Iterable[int], **changes: object) -> int:
    ids = list(ids)
    if not ids:
        return 0
    return Delivery.objects.filter(pk__in=ids, state=D.SENDING).update(updated_at=timezone.now(), **changes)


def _write_back(rows: list[ClaimedDelivery], results: list[SendResult | ChannelError], report: ChunkReport) -> None:
    """Record every outcome with a few bulk UPDATEs, each only where the row is still SENDING.

    A row the sweep already ended "outcome unknown" is corrected to SENT when the
    provider's answer arrives after all.
    """
    now = timezone.now()
    sent: dict[int, str] = {}
    failed: dict[int, tuple[str, str]] = {}
    retry: dict[int, datetime.datetime] = {}
    retry_codes: dict[int, str] = {}  # kept: an ambiguous code makes the next attempt look up first
    retry_reasons: dict[int, str] = {}
    opted_out: list[ClaimedDelivery] = []
    # The channel pauses when the provider refused our account, or when this round's
    # server errors, timeouts and failed connections make it look down
    # (alerts.services.pauses): rows refused or answered 5xx wait for it, unspent; those
    # that timed out or could not connect are settled below as before (lookup first,
    # or never resent): for them the outage only adds the pause.
    outage = pauses.count_outage(rows[0].channel, results) if rows else None
    down = outage is not None
    refused: list[int] = []
    refusals: list[ChannelError] = [outage] if outage is not None else []
    # One jitter for the round: its retries are due together (the sweep queues them
    # again in one pass anyway), and rows sharing their values are written in one
    # statement (``_sql_set``). Other rounds draw their own.
    jitter = random.uniform(0.5, 1.5)
    for row, result in zip(rows, results, strict=True):
        if isinstance(result, SendResult):
            sent[row.pk] = result.provider_message_id
        elif result.account or (down and result.outage):
            refused.append(row.pk)
            refusals.append(result)
        elif row.channel == Delivery.Channel.EMAIL and result.code in ("timeout", "answer"):
            # No way to ask SendGrid whether it took the batch: never send it twice.
            failed[row.pk] = ("unknown", f"{_UNKNOWN} ({result.message})"[:300])
        elif result.permanent or row.attempts >= settings.DELIVERY_MAX_ATTEMPTS:
            # Given up on a transient error: "attempts", the provider's code kept in the reason.
            code = ((result.code or "permanent") if result.permanent else "attempts")[:16]
            reason = result.message if result.permanent else f"gave up after {row.attempts} attempts: {result.message}"
            if result.opted_out:
                reason = f"opted out at the provider ({result.code or 'opt-out'})"
                opted_out.append(row)
            failed[row.pk] = (code, reason[:300])
        else:
            retry[row.pk] = now + datetime.timedelta(seconds=_backoff(row.attempts, result.retry_after, jitter))
            retry_codes[row.pk] = (result.code or "transient")[:16]
            retry_reasons[row.pk] = result.message[:300]
    if connection.vendor == "postgresql":
        report.sent += _sql_set(
            "state = %s, sent_at = %s, error_code = '', error_reason = '', updated_at = %s",
            [D.SENT, now, now],
            [("provider_message_id", "text")],
            {pk: (sid,) for pk, sid in sent.items()},
            # also over a row the sweep ended "outcome unknown"
            "(d.state = %s OR (d.state = %s AND d.error_code = 'unknown'))",
            [D.SENDING, D.FAILED],
        )
        report.failed += _sql_set(
            "state = %s, updated_at = %s",
            [D.FAILED, now],
            [("error_code", "text"), ("error_reason", "text")],
            failed,
        )
        report.retry += _sql_set(
            "state = %s, enqueued_at = NULL, updated_at = %s",
            [D.RETRY, now],
            [("error_code", "text"), ("error_reason", "text"), ("next_attempt_at", "timestamptz")],
            {pk: (retry_codes[pk], retry_reasons[pk], at) for pk, at in retry.items()},
        )
    else:
        _orm_write_back(sent, failed, retry, retry_codes, retry_reasons, now, report)
    if refusals:
        # A refused account says more (and pauses longer) than a provider's outage.
        refusal = next((r for r in refusals if r.account), refusals[0])
        report.retry += _hold_for_pause(refused, pauses.pause_channel(rows[0].channel, refusal, now))
        report.paused = True
    if opted_out:
        from alerts.services.opt_outs import opt_out_email, opt_out_phone

        for row in opted_out:
            if row.channel == Delivery.Channel.SMS:
                opt_out_phone(row.address, source="provider")
            else:
                opt_out_email(row.address, source="provider")


#: ``_sql_set`` writes rows with values of their own (an SMS round's SIDs) in statements
#: of at most this many, and rows sharing their values in one statement each when
#: there are at most ``_SET_GROUPS`` such groups (an email request's recipients).
_SET_JOIN_ROWS = 100
_SET_GROUPS = 4


def _sql_set(
    fixed_sql: str,
    fixed_params: list[object],
    columns: Sequence[tuple[str, str]],
    values: dict[int, tuple[object, ...]],
    state_sql: str = "d.state = %s",
    state_params: Sequence[object] = (D.SENDING,),
) -> int:
    """Write ``values`` (delivery id -> one value per ``columns``: name, SQL type) and
    ``fixed_sql`` to the rows still in the state ``state_sql`` says (SENDING); returns
    how many were written.

    Every statement finds its rows by primary key (``d.id = ANY(ids)``) and nothing
    else. Joining the rows to a list of values (``FROM unnest(...) AS v``) is left to a
    round's few rows with values of their own: the planner believes almost no row is
    SENDING (true after any ANALYZE), so it expects one row to join and compares each
    with the whole list. For 1,000 rows that was a million comparisons, 86 us per row.
    Rows sharing their values (an email request's recipients: one message id, one
    error) are written without a join, one statement per group.
    """
    if not values:
        return 0
    groups: dict[tuple[object, ...], list[int]] = {}
    for pk, value in values.items():
        groups.setdefault(value, []).append(pk)
    written = 0
    with connection.cursor() as cursor:
        if len(groups) <= _SET_GROUPS:
            # fixed_sql, the column names and types, and state_sql are this module's
            # constants; every value is a parameter.
            assign = ", ".join(f"{name} = %s::{sql_type}" for name, sql_type in columns)
            sql = (
                f"UPDATE alerts_delivery AS d SET {fixed_sql}, {assign} WHERE d.id = ANY(%s::bigint[]) AND {state_sql}"  # noqa: S608
            )
            for value, ids in groups.items():
                cursor.execute(sql, [*fixed_params, *value, ids, *state_params])
                written += cursor.rowcount
            return written
        assign = ", ".join(f"{name} = v.{name}" for name, _type in columns)
        arrays = ", ".join(f"%s::{sql_type}[]" for _name, sql_type in [("id", "bigint"), *columns])
        names = ", ".join(["id", *(name for name, _type in columns)])
        sql = (
            f"UPDATE alerts_delivery AS d SET {fixed_sql}, {assign} FROM unnest({arrays}) AS v({names})"  # noqa: S608
            f" WHERE d.id = ANY(%s::bigint[]) AND d.id = v.id AND {state_sql}"
        )
        ids = list(values)
        for start in range(0, len(ids), _SET_JOIN_ROWS):
            part = ids[start : start + _SET_JOIN_ROWS]
            per_column = [[values[pk][i] for pk in part] for i in range(len(columns))]
            cursor.execute(sql, [*fixed_params, part, *per_column, part, *state_params])
            written += cursor.rowcount
    return written


def _orm_write_back(
    sent: dict[int, str],
    failed: dict[int, tuple[str, str]],
    retry: dict[int, datetime.datetime],
    retry_codes: dict[int, str],
    retry_reasons: dict[int, str],
    now: datetime.datetime,
    report: ChunkReport,
) -> None:
    """``_write_back``'s UPDATEs for databases other than PostgreSQL (one CASE per column)."""
    if sent:
        report.sent += (
            Delivery.objects.filter(pk__in=list(sent))
            .filter(Q(state=D.SENDING) | Q(state=D.FAILED, error_code="unknown"))
            .update(
                state=D.SENT,
                sent_at=now,
                error_code="",
                error_reason="",
                updated_at=now,
                provider_message_id=Case(
                    *[When(pk=pk, then=Value(pid)) for pk, pid in sent.items()], output_field=CharField()
                ),
            )
        )
    if failed:
        report.failed += _mark(
            failed,
            state=D.FAILED,
            error_code=Case(*[When(pk=pk, then=Value(c)) for pk, (c, _r) in failed.items()], output_field=CharField()),
            error_reason=Case(
                *[When(pk=pk, then=Value(r)) for pk, (_c, r) in failed.items()], output_field=CharField()
            ),
        )
    if retry:
        report.retry += _mark(
            retry,
            state=D.RETRY,
            enqueued_at=None,
            error_code=Case(
                *[When(pk=pk, then=Value(code)) for pk, code in retry_codes.items()], output_field=CharField()
            ),
            error_reason=Case(
                *[When(pk=pk, then=Value(reason)) for pk, reason in retry_reasons.items()], output_field=CharField()
            ),
            next_attempt_at=Case(
                *[When(pk=pk, then=Value(at)) for pk, at in retry.items()], output_field=DateTimeField()
            ),
        )


#: SMS rounds a send task keeps at the provider: the next round is claimed and rendered
#: while the previous one is in flight, so the provider never waits for our database.
SMS_ROUNDS_IN_FLIGHT = 2


def send_delivery_chunk(alert_id: int, channel: str, delivery_ids: Sequence[int]) -> ChunkReport:
    """Send the deliveries ``delivery_ids`` of one alert on one channel, exactly once each.

    Claims in rounds (``SMS_CLAIM_SIZE`` SMS, or one email batch), so an abort stops
    the rest within a round or two: every message handed to the provider was claimed
    first, and at most ``SMS_ROUNDS_IN_FLIGHT`` SMS rounds are claimed ahead of their
    outcomes. Opted-out recipients (since the fan-out) are SKIPPED.
    Transient failures become RETRY with backoff and jitter (the sweep queues them
    again when due), permanent ones FAILED with the reason. When the provider refuses
    our account the channel pauses (``alerts.services.pauses``): the refused wait as
    RETRY without spending an attempt, and this task and every other claims nothing
    more on the channel until the pause ends. Returns the counts.
    """
    report = ChunkReport()
    round_size = settings.SMS_CLAIM_SIZE if channel == Delivery.Channel.SMS else settings.EMAIL_BATCH_SIZE
    renderer: AlertRenderer | None = None
    provider: Channel | None = None
    ids = list(delivery_ids)
    in_flight: collections.deque[
        tuple[list[ClaimedDelivery], concurrent.futures.Future[list[SendResult | ChannelError]]]
    ]
    in_flight = collections.deque()
    probing = False  # a pause had ended: the first request accepted ends it
    look_up_all: bool | None = None  # the database changed while this alert was open (restore_guard)
    # A database restored under a queued task: hold before claiming what it sent already.
    restore_guard.check_database()
    try:
        while True:
            pause = pauses.channel_pause(channel)
            if pauses.is_paused(pause):
                # The provider refuses our account: claim nothing; the sweep queues the
                # rest again when the pause ends.
                report.paused = True
                _hand_back(ids)
                rows = []
            else:
                probing = probing or pause is not None
                rows = _claim(alert_id, channel, ids, round_size)
            if rows:
                report.claimed += len(rows)
                claimed_ids = {r.pk for r in rows}
                ids = [i for i in ids if i not in claimed_ids]
                if renderer is None:
                    renderer = AlertRenderer(Alert.objects.get(pk=alert_id))
                    provider = get_channel(channel)
                assert provider is not None
                to_send = _settle_unsendable(renderer, rows, report)
                if channel == Delivery.Channel.SMS:
                    if look_up_all is None:
                        look_up_all = restore_guard.looks_up_every_sms(alert_id)
                    if _can_look_up(provider):
                        to_send = _reconcile(renderer, provider, to_send, report, look_up_all=look_up_all)
                    messages = [renderer.render(row) for row in to_send]
                    in_flight.append((to_send, _submit_sms(provider, messages)))
                else:
                    for batch, members in renderer.email_batches(to_send):
                        pause = pauses.channel_pause(channel) if report.paused else None
                        if pause is not None:
                            # The account was refused for this round's other language:
                            # this one waits with it instead of being refused too.
                            report.retry += _hold_for_pause([m.pk for m in members], pause)
                            continue
                        _write_back(members, list(provider.send_personalized(batch)), report)
            while in_flight and (not rows or len(in_flight) >= SMS_ROUNDS_IN_FLIGHT):
                sent_rows, future = in_flight.popleft()
                _write_back(sent_rows, future.result(), report)
            if probing and report.sent:
                pauses.resume_channel(channel)
                probing = False
            if not rows:
                break
    finally:
        # Leaving early (an error): still record what the provider answered, if we can.
        while in_flight:
            sent_rows, future = in_flight.popleft()
            try:
                _write_back(sent_rows, future.result(), report)
            except Exception:  # the sweep settles rows left SENDING
                logger.exception("could not record the outcome of %d SMS", len(sent_rows))
    if report.claimed:
        finish_alert_if_done(alert_id)
    return report


def _hold_for_pause(ids: Sequence[int], pause: ChannelPause) -> int:
    """Claimed deliveries wait for ``pause``'s end as RETRY. The provider never judged
    them, so the attempt does not count."""
    return _mark(
        ids,
        state=D.RETRY,
        attempts=F("attempts") - 1,
        enqueued_at=None,
        next_attempt_at=pause.until,
        error_code=pause.code,
        error_reason=pause.reason,
    )


def _hand_back(ids: Sequence[int]) -> int:
    """Leave ``ids`` to the sweep: those still waiting are marked as having no send task."""
    if not ids:
        return 0
    return Delivery.objects.filter(pk__in=list(ids), state__in=(D.QUEUED, D.RETRY)).update(enqueued_at=None)


def _settle_unsendable(
    renderer: AlertRenderer, rows: list[ClaimedDelivery], report: ChunkReport
) -> list[ClaimedDelivery]:
    """SKIP the opted-out and removed, FAIL those with no text; return the rest, to send."""
    skip = [r for r in rows if r.opted_out or (r.citizen_id is None and not renderer.alert.is_test)]
    if skip:
        opted = [r.pk for r in skip if r.citizen_id is not None]
        gone = [r.pk for r in skip if r.citizen_id is None]
        report.skipped += _mark(opted, state=D.SKIPPED, error_code="opted-out", error_reason="opted out")
        report.skipped += _mark(gone, state=D.SKIPPED, error_code="removed", error_reason="citizen removed")
    skipped = {r.pk for r in skip}
    to_send = [r for r in rows if r.pk not in skipped]
    no_text = [r.pk for r in to_send if not renderer.has_text(r.language)]
    if no_text:
        reason = f"no text in the recipient's language nor in {renderer.alert.fallback_language}"
        report.failed += _mark(no_text, state=D.FAILED, error_code="no-text", error_reason=reason)
        to_send = [r for r in to_send if r.pk not in no_text]
    return to_send


# --- reconciling a lost outcome ----------------------------------------------------------

#: Failures after which the message may or may not be at the provider (no answer in
#: time, an unreadable answer, a connection dropped mid-request): never simply resent.
AMBIGUOUS_CODES = frozenset({"timeout", "answer", "connection"})
#: How far before a delivery was created a provider's clock may put its message.
_CLOCK_SKEW = datetime.timedelta(minutes=2)
_UNKNOWN = "outcome unknown: the provider may have taken it; not sent again"


def _can_look_up(provider: Channel) -> bool:
    return callable(getattr(provider, "messages_to", None))


def _look_up(renderer: AlertRenderer, provider: Channel, row: Delivery | ClaimedDelivery) -> str | None:
    """The provider's id of the SMS ``row`` would send, if the provider already has it.

    Raises ChannelError when the provider cannot be asked.
    """
    pattern = renderer.sms_pattern(row)
    since = row.created_at - _CLOCK_SKEW
    for message in provider.messages_to(row.address, since):  # type: ignore[attr-defined]
        if pattern.match(message.body):
            return str(message.sid)
    return None


def _reconcile(
    renderer: AlertRenderer,
    provider: Channel,
    rows: list[ClaimedDelivery],
    report: ChunkReport,
    *,
    look_up_all: bool = False,
) -> list[ClaimedDelivery]:
    """Settle claimed SMS whose previous attempt ended ambiguously; return those to send.
    ``look_up_all``: every row is looked up, a first attempt included (the database
    changed while the alert was open: ``restore_guard``).

    Found at the provider: SENT, not sent again. Not found: sent now. The provider
    cannot be asked: back to RETRY without sending.
    """
    to_send: list[ClaimedDelivery] = []
    found: dict[int, str] = {}
    unasked: list[ClaimedDelivery] = []
    cannot_ask: ChannelError | None = None
    for row in rows:
        # A first attempt has nothing to look up, unless the database changed while the
        # alert was open (the SMS may have gone after the backup: restore_guard).
        unclear = row.attempts > 1 and row.error_code in AMBIGUOUS_CODES
        if not (unclear or look_up_all):
            to_send.append(row)
            continue
        if cannot_ask is not None:
            # The provider did not answer the first question of this round: the rest are
            # not asked (each would wait up to the timeout); they wait for the next round.
            unasked.append(row)
            continue
        try:
            sid = _look_up(renderer, provider, row)
        except ChannelError as exc:
            cannot_ask = exc
            unasked.append(row)
            _count_failed_look_up(exc)
            continue
        except LookupError:  # no text to compare with: cannot tell, so never resend
            report.failed += _mark([row.pk], state=D.FAILED, error_code="unknown", error_reason=_UNKNOWN)
            continue
        if sid:
            found[row.pk] = sid
        else:
            to_send.append(row)
    if found:
        rows_found = [r for r in rows if r.pk in found]
        _write_back(rows_found, [SendResult(provider_message_id=found[r.pk]) for r in rows_found], report)
    exhausted = [r.pk for r in unasked if r.attempts >= settings.DELIVERY_MAX_ATTEMPTS]
    if exhausted:
        report.failed += _mark(exhausted, state=D.FAILED, error_code="unknown", error_reason=_UNKNOWN)
    unasked = [r for r in unasked if r.pk not in exhausted]
    if unasked:
        error = ChannelError("the provider could not be asked about an earlier attempt", permanent=False, code="lookup")
        # keep the ambiguous code so the next attempt looks up again
        now = timezone.now()
        report.retry += _mark(
            [r.pk for r in unasked],
            state=D.RETRY,
            enqueued_at=None,
            error_reason=error.message,
            next_attempt_at=now + datetime.timedelta(seconds=_backoff(max(r.attempts for r in unasked), None)),
        )
    return to_send


def _count_failed_look_up(error: ChannelError) -> None:
    """A look-up that timed out or found the provider down counts towards its outage like
    a send does (``pauses.count_outage``): a provider that answers nothing pauses the
    channel instead of being asked again, round after round, each row waiting out the
    timeout and spending an attempt."""
    outage = pauses.count_outage(Delivery.Channel.SMS, [error])
    if outage is not None:
        pauses.pause_channel(Delivery.Channel.SMS, outage)


def _open_alert_ids() -> list[int]:
    """The alerts that may still have QUEUED, RETRY or SENDING deliveries: those sending,
    and those aborted whose last claimed rows are not yet all final (``finished_at``
    unset). Every other alert's deliveries are final, so the sweep asks only about
    these, by alert (``delivery_alert_state_channel``): no index begins with the state.
    """
    return list(
        Alert.objects.filter(Q(state=A.SENDING) | Q(state=A.ABORTED, finished_at__isnull=True))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _settle_stale_sending(
    open_alerts: list[int], stale: datetime.datetime, now: datetime.datetime, report: SweepReport
) -> None:
    """Step 1 of the sweep: deliveries left SENDING by a worker that died."""
    rows = list(
        Delivery.objects.select_related("citizen")
        .filter(alert_id__in=open_alerts, state=D.SENDING, claimed_at__lt=stale)
        .order_by("alert_id", "pk")[:500]
    )
    if not rows:
        return
    give_up_before = now - 3 * (now - stale)
    sms_provider: Channel | None = None
    renderers: dict[int, AlertRenderer] = {}
    unknown: list[Delivery] = []

    def settle(row: Delivery, **changes: object) -> int:
        # Only the claim looked at: while it was being looked up (up to the timeout), the
        # row may have been settled by an overlapping sweep, queued again and claimed
        # afresh by a worker now sending it. Marking *that* claim RETRY would send it twice.
        return Delivery.objects.filter(pk=row.pk, state=D.SENDING, claimed_at=row.claimed_at).update(
            updated_at=timezone.now(), **changes
        )

    cannot_ask = False  # the provider did not answer a look-up: ask no more in this sweep
    for row in rows:
        if row.channel == Delivery.Channel.SMS:
            if sms_provider is None:
                sms_provider = get_channel("sms")
            if cannot_ask:
                if row.claimed_at and row.claimed_at < give_up_before:
                    unknown.append(row)
                continue
            if _can_look_up(sms_provider):
                if row.alert_id not in renderers:
                    renderers[row.alert_id] = AlertRenderer(Alert.objects.get(pk=row.alert_id))
                try:
                    sid = _look_up(renderers[row.alert_id], sms_provider, row)
                except (ChannelError, LookupError) as exc:
                    if isinstance(exc, ChannelError):
                        cannot_ask = True
                        _count_failed_look_up(exc)
                    if row.claimed_at and row.claimed_at < give_up_before:
                        unknown.append(row)
                    continue
                if sid:
                    report.reconciled_sent += settle(
                        row, state=D.SENT, provider_message_id=sid, sent_at=now, error_code="", error_reason=""
                    )
                else:
                    report.reconciled_retry += settle(
                        row,
                        state=D.RETRY,
                        next_attempt_at=now,
                        enqueued_at=None,
                        error_code="stale",
                        error_reason="the worker stopped before the provider took it; sent again",
                    )
                continue
        unknown.append(row)
    for row in unknown:
        report.outcome_unknown += settle(row, state=D.FAILED, error_code="unknown", error_reason=_UNKNOWN)


# --- the sweep -------------------------------------------------------------------------


def sweep_deliveries(now: datetime.datetime | None = None, *, requeue_limit: int = 50_000) -> SweepReport:
    """Finish what stalled; run by beat every ``DELIVERY_SWEEP_EVERY_SECONDS``.

    1. A delivery SENDING for longer than ``DELIVERY_SENDING_STALE_SECONDS`` was left by
       a dead worker. An SMS is looked up at the provider: found, it is SENT; not there,
       it is due again (RETRY). An email, or an SMS the provider cannot be asked about
       for ``3 x`` that long, ends FAILED "outcome unknown" and is never sent again (see
       ``Delivery``).
    2. QUEUED / RETRY deliveries of an aborted alert become SKIPPED "aborted", and those
       of a sending alert past its ``expires_at`` SKIPPED "expired" (a send task claims
       nothing of an expired alert either).
    3. Deliveries of a sending alert that are QUEUED, or RETRY and due, whose send task
       is missing or older than ``DELIVERY_REQUEUE_AFTER_SECONDS`` are queued again,
       except on a channel paused because its provider refused our account
       (``alerts.services.pauses``): those wait for the pause's end.
    4. A fan-out whose lease went stale is resumed.
    5. A sending alert whose deliveries are all created and final becomes SENT.
    """
    with _sweep_lock() as mine:
        if not mine:
            logger.warning("sweep: another sweep is still running; this one does nothing")
            return SweepReport(overlapped=True)
        return _sweep(now or timezone.now(), requeue_limit)


#: The PostgreSQL advisory lock a sweep holds while it runs (any number, the same everywhere).
SWEEP_LOCK_KEY = 0x5EE9_0001


@contextlib.contextmanager
def _sweep_lock() -> Iterator[bool]:
    """One sweep at a time, across every worker: True if this one may run.

    A sweep can outlast its interval (up to 500 stale SMS looked up, each up to the
    provider timeout), and a second beat may have been started by mistake. The settling
    of each row is safe on its own (``_settle_stale_sending``); this keeps overlapping
    sweeps from asking the provider twice and queueing the same rows twice. A session
    lock of PostgreSQL's: released at the end, or when the worker's connection dies.
    Other databases (the embedded SQLite, one process) need none.
    """
    with one_at_a_time(SWEEP_LOCK_KEY) as mine:
        yield mine


def _sweep(now: datetime.datetime, requeue_limit: int) -> SweepReport:
    report = SweepReport()
    # A restored database holds sending (both channels paused) before anything is queued.
    restore_guard.check_database(now)
    stale = now - datetime.timedelta(seconds=settings.DELIVERY_SENDING_STALE_SECONDS)
    open_alerts = _open_alert_ids()
    if not open_alerts:
        return report
    _settle_stale_sending(open_alerts, stale, now, report)
    waiting = Q(alert_id__in=open_alerts, state__in=(D.QUEUED, D.RETRY))
    report.skipped_aborted = Delivery.objects.filter(waiting, alert__state=A.ABORTED).update(
        state=D.SKIPPED, error_code="aborted", error_reason="aborted", updated_at=now
    )
    # An alert's information is void after its expiry: what is still waiting (a paused
    # channel, retries) is never sent late.
    report.skipped_expired = Delivery.objects.filter(
        waiting, alert__state=A.SENDING, alert__expires_at__lte=now
    ).update(state=D.SKIPPED, error_code="expired", error_reason="the alert expired before it was sent", updated_at=now)

    requeue_before = now - datetime.timedelta(seconds=settings.DELIVERY_REQUEUE_AFTER_SECONDS)
    not_recently_queued = Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=requeue_before)
    due = Q(state=D.QUEUED) | Q(state=D.RETRY, next_attempt_at__lte=now) | Q(state=D.RETRY, next_attempt_at=None)
    paused = pauses.paused_channels(now)  # their deliveries wait for the pause's end
    with transaction.atomic():
        rows = list(
            Delivery.objects.filter(due, not_recently_queued, alert_id__in=open_alerts, alert__state=A.SENDING)
            .exclude(channel__in=paused)
            .order_by("alert_id", "channel", "pk")
            .values_list("pk", "alert_id", "channel")[:requeue_limit]
        )
        if rows:
            Delivery.objects.filter(pk__in=[pk for pk, _a, _c in rows]).update(enqueued_at=now)
        groups: dict[tuple[int, str], list[int]] = {}
        for pk, alert_id, channel in rows:
            groups.setdefault((alert_id, channel), []).append(pk)
        for (alert_id, channel), ids in groups.items():
            queue_send_tasks(alert_id, channel, ids)
    report.requeued = len(rows)

    from alerts.tasks import start_fan_out as start_fan_out_task

    stall = now - datetime.timedelta(seconds=settings.ALERT_FANOUT_STALL_SECONDS)
    stalled = list(
        Alert.objects.filter(state=A.SENDING, fanout_done_at__isnull=True)
        .filter(Q(fanout_heartbeat_at__isnull=True) | Q(fanout_heartbeat_at__lt=stall))
        .values_list("pk", flat=True)
    )
    for alert_id in stalled:
        transaction.on_commit(lambda alert_id=alert_id: start_fan_out_task.delay(alert_id))
    report.fanouts_resumed = stalled

    for alert_id in Alert.objects.filter(state=A.SENDING, fanout_done_at__isnull=False).values_list("pk", flat=True):
        if finish_alert_if_done(alert_id):
            report.alerts_finished.append(alert_id)
    open_rows = Delivery.objects.filter(alert_id=OuterRef("pk"), state__in=Delivery.OPEN_STATES)
    Alert.objects.filter(state=A.ABORTED, finished_at__isnull=True).exclude(Exists(open_rows)).update(finished_at=now)
    if report.outcome_unknown or report.requeued or report.fanouts_resumed or report.reconciled_sent:
        logger.warning(
            "sweep: %d stale SMS found at the provider, %d not (sent again), %d ended outcome unknown, "
            "%d queued again, fan-outs resumed %s",
            report.reconciled_sent,
            report.reconciled_retry,
            report.outcome_unknown,
            report.requeued,
            report.fanouts_resumed,
        )
    return report
