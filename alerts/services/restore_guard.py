"""Sending holds when the database is not the one it was recorded in.

Restore a backup taken at 10:00 over a database that sent an alert until 10:20, and
every delivery sent after 10:00 reads QUEUED again: the sweep would send it a second
time, an alert aborted at 10:10 would read SENDING and go on, and an erasure made since
would be undone. The same holds, for its last seconds, after a failover to a replica
that was behind.

So every sweep and every send task first compares the database's identity with the one
last recorded in it (``DatabaseIdentity``):

- the cluster (``pg_control_system().system_identifier``: a new one for a dump restored
  into another server),
- its timeline (the first part of the current WAL file's name: a new one after a
  point-in-time recovery or a replica's promotion, at once; the last checkpoint's
  ``timeline_id`` would lag by minutes after a promotion),
- the database (``pg_database.oid``: a new one for a database recreated from a dump).

When any differs, the new identity is recorded (so the change is acted on once) and:

- both channels pause with kind ``restored`` (``ChannelPause``): no send task claims,
  the sweep queues nothing, the console shows why on every page and ``/healthz`` names
  the channels. Nothing ends this pause but an administrator ("Resume now" in the
  admin's Paused channels, ``alerts.services.pauses.try_channel_again``): no timer, and
  no accepted request, since none is made;
- every SMS of the alerts open or due to start then (``look_up_alerts``) is looked up
  at Twilio before it is sent (as after a timeout), a first attempt included, also one
  a resumed or restarted fan-out creates afresh: what went after the backup is recorded
  SENT, not sent again. Email cannot be looked up: resuming sends
  again what the backup had not recorded as sent; abort the alert first if that must
  not happen (docs/operations.md, 7);
- the change is logged (ERROR) and audited.

A new timeline alone (a replica promoted, or a point-in-time recovery, which PostgreSQL
cannot tell apart) holds too, unless ``HOLD_SENDING_ON_NEW_TIMELINE`` is off: for a
deployment whose replicas are synchronous (never behind), where a failover at 3 a.m.
should not wait for an administrator. The new identity is recorded either way.

Verification codes and links are not held: sending one twice is harmless, and people
registering must not wait for an administrator.

On SQLite (the embedded default) there is nothing to compare: nothing holds.
"""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from alerts.models import Alert, ChannelPause, DatabaseIdentity, Delivery

logger = logging.getLogger(__name__)

RESTORED = "restored"  # the pauses' code
#: A restored pause ends by hand only; its ``until`` is this far ahead.
_HOLD = datetime.timedelta(days=365 * 100)

Identity = tuple[str, int, int]


def database_identity() -> Identity | None:
    """(cluster, timeline, database) of the connected PostgreSQL database; None elsewhere."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT system_identifier FROM pg_control_system())::text,"
            " ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int,"
            " (SELECT oid FROM pg_database WHERE datname = current_database())::bigint"
        )
        system, timeline, oid = cursor.fetchone()
    return str(system), int(timeline), int(oid)


def _describe(identity: Identity) -> str:
    return f"cluster {identity[0]}, timeline {identity[1]}, database {identity[2]}"


def check_database(now: datetime.datetime | None = None) -> bool:
    """Compare the database's identity with the one recorded; act on a change (module
    docstring). Returns True when this call found one."""
    identity = database_identity()
    if identity is None:
        return False
    recorded_now = (
        DatabaseIdentity.objects.filter(pk=1).values_list("system_identifier", "timeline", "database_oid").first()
    )
    if recorded_now == identity:
        return False  # the common case, once per send task: one read, no lock
    now = now or timezone.now()
    system, timeline, oid = identity
    with transaction.atomic():
        recorded = DatabaseIdentity.objects.select_for_update().filter(pk=1).first()
        if recorded is None:
            # First run on this database: nothing to compare with. (A backup restored
            # from before this check existed is not recognised.)
            try:
                with transaction.atomic():
                    DatabaseIdentity.objects.create(
                        pk=1, system_identifier=system, timeline=timeline, database_oid=oid, recorded_at=now
                    )
            except IntegrityError:  # another process recorded it at the same moment
                pass
            return False
        before: Identity = (recorded.system_identifier, recorded.timeline, recorded.database_oid)
        if before == identity:
            return False
        DatabaseIdentity.objects.filter(pk=1).update(
            system_identifier=system,
            timeline=timeline,
            database_oid=oid,
            recorded_at=now,
            changed_from=_describe(before)[:120],
        )
        if before[0::2] == identity[0::2] and not settings.HOLD_SENDING_ON_NEW_TIMELINE:
            # Only the timeline: a failover (or a point-in-time recovery), and the
            # deployment says its replicas are never behind (synchronous replication).
            logger.warning(
                "database timeline %d -> %d (a failover or a point-in-time recovery): sending goes on "
                "(HOLD_SENDING_ON_NEW_TIMELINE is off)",
                before[1],
                timeline,
            )
            return False
        reason = f"database changed since {recorded.recorded_at.isoformat(timespec='seconds')}: " + ", ".join(
            f"{name} {old} -> {new}"
            for name, old, new in zip(("cluster", "timeline", "database"), before, identity, strict=True)
            if old != new
        )
        _hold(reason[:300], now)
        look_up = _alerts_to_look_up()
        DatabaseIdentity.objects.filter(pk=1).update(look_up_alerts=look_up)
        from alerts.console.audit import record_audit

        record_audit(
            None,
            "database-changed",
            DatabaseIdentity.objects.get(pk=1),
            before={"identity": _describe(before)},
            after={"identity": _describe(identity), "sending": "held", "alerts_to_look_up": look_up},
        )
    from alerts.services import pauses

    pauses.forget()
    logger.error(
        "sending held: %s. Deliveries recorded as sent after the backup read as not sent; "
        "the SMS of %d open alert(s) will be looked up at Twilio before they go. An administrator must "
        "resume each channel (docs/operations.md, 7)",
        reason,
        len(look_up),
    )
    return True


def _hold(reason: str, now: datetime.datetime) -> None:
    for channel in (Delivery.Channel.SMS, Delivery.Channel.EMAIL):
        ChannelPause.objects.update_or_create(
            channel=channel,
            defaults={
                "kind": ChannelPause.Kind.RESTORED,
                "code": RESTORED,
                "reason": reason,
                "since": now,
                "refused_at": now,
                "until": now + _HOLD,
                "refusals": 1,
            },
        )


def _alerts_to_look_up() -> list[int]:
    """The alerts that may have sent after the backup: sending, aborted with rows still
    open, or approved and due to start (one that started after the backup starts again)."""
    states = Q(state__in=(Alert.State.SENDING, Alert.State.SCHEDULED)) | Q(state=Alert.State.ABORTED, finished_at=None)
    return sorted(Alert.objects.filter(states).values_list("pk", flat=True))


def looks_up_every_sms(alert_id: int) -> bool:
    """Whether every SMS of ``alert_id`` is looked up at Twilio before it is sent, a first
    attempt included: the alert was open or due when the database last changed, so its
    fan-out may create afresh deliveries that were sent after the backup."""
    if connection.vendor != "postgresql":
        return False
    return DatabaseIdentity.objects.filter(pk=1, look_up_alerts__contains=[alert_id]).exists()


def is_restore_hold(pause: ChannelPause | None) -> bool:
    """Whether ``pause`` is this module's (ends by hand only)."""
    return pause is not None and pause.kind == ChannelPause.Kind.RESTORED
