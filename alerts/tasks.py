"""Celery tasks of the alerts app: thin wrappers that load by id and call a service."""

from __future__ import annotations

import datetime
import logging

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from alerts.channels import ChannelError
from alerts.notify import (
    ChannelPaused,
    NotWanted,
    postpone_messages,
    send_message,
    shown_arguments,
    wait_for_pause,
)

logger = logging.getLogger(__name__)


# The hard time limit bounds how long a live task can hold a verification's claim: the
# beat sends again a claim older than VERIFICATION_CLAIM_STALE_SECONDS (longer than this
# plus the provider's timeout) whose answer never came.
@shared_task(bind=True, max_retries=6, acks_late=True, time_limit=settings.SINGLE_MESSAGE_TIME_LIMIT_SECONDS)
def send_single_message(self, payload: dict | list[dict]) -> str | None | list[str | None]:  # type: ignore[no-untyped-def]
    """Send a verification code, link or reply; retry transient failures with backoff.

    ``payload`` is one message or a list of messages queued together (a registration's
    code and link: one broker publish). Each message in a list is sent on its own: a
    permanent failure drops only that message, a transient one retries only the messages
    that failed, and an unexpected error in one does not keep the others from being sent
    (it is logged, and raised after them unless a retry is due). A message whose channel
    is paused is queued again for the pause's end without spending a retry, or dropped
    once it would expire first (``alerts.notify.wait_for_pause``). A verification's
    message that another task sent, or that was used or expired, is not sent
    (``alerts.notify.NotWanted``). Returns the provider message id (None if dropped,
    not wanted or waiting), or the list of them in order.
    """
    if isinstance(payload, dict):
        try:
            return send_message(payload).provider_message_id
        except NotWanted:
            return None
        except ChannelPaused as paused:
            wait_for_pause([payload], paused.until, retries=self.request.retries)
            return None
        except ChannelError as exc:
            if exc.permanent:
                return None
            countdown = exc.retry_after or min(300, 2 ** (self.request.retries + 1))
            _retry_at([payload], countdown)
            raise self.retry(exc=exc, countdown=countdown, argsrepr=shown_arguments(payload)) from exc
    sent: list[str | None] = []
    again: list[dict] = []
    paused: dict[str, tuple[ChannelPaused, list[dict]]] = {}  # by channel
    transient: ChannelError | None = None
    unexpected: Exception | None = None
    for message in payload:
        try:
            sent.append(send_message(message).provider_message_id)
        except NotWanted:
            sent.append(None)
        except ChannelPaused as exc:
            sent.append(None)
            paused.setdefault(exc.channel, (exc, []))[1].append(message)
        except ChannelError as exc:
            sent.append(None)
            if not exc.permanent:
                again.append(message)
                transient = transient or exc
        except Exception as exc:
            sent.append(None)
            logger.exception("single %s message %s failed", message.get("channel"), message.get("reference"))
            unexpected = unexpected or exc
    for pause, messages in paused.values():
        wait_for_pause(messages, pause.until, retries=self.request.retries)
    if transient is not None:
        countdown = transient.retry_after or min(300, 2 ** (self.request.retries + 1))
        retry = again if len(again) > 1 else again[0]
        _retry_at(again, countdown)
        raise self.retry(args=(retry,), exc=transient, countdown=countdown, argsrepr=shown_arguments(retry))
    if unexpected is not None:
        raise unexpected
    return sent


def _retry_at(messages: list[dict], countdown: float) -> None:
    """``messages`` are retried in ``countdown`` seconds: the beat waits for that first."""
    postpone_messages(messages, timezone.now() + datetime.timedelta(seconds=countdown))


# --- the alert pipeline: ids over the queue, queued after commit by the services --------


@shared_task(acks_late=True)
def start_fan_out(alert_id: int) -> int:
    """Create and queue an approved alert's deliveries; returns how many it queued."""
    from alerts.services.fanout import start_fan_out as run

    return run(alert_id).queued


@shared_task(acks_late=True)
def count_audience(alert_id: int) -> int:
    """Recount an approved alert's audience (after its fan-out was queued); returns citizens."""
    from alerts.models import Alert
    from alerts.services.audience import compute_audience

    return int(compute_audience(Alert.objects.get(pk=alert_id))["citizens"])  # type: ignore[call-overload]


@shared_task(acks_late=True)
def send_delivery_chunk(alert_id: int, channel: str, delivery_ids: list[int]) -> int:
    """Send one chunk of an alert's deliveries on one channel; returns how many were claimed."""
    from alerts.services.fanout import send_delivery_chunk as run

    return run(alert_id, channel, delivery_ids).claimed


@shared_task(acks_late=True)
def sweep_deliveries() -> int:
    """Beat: re-queue stalled deliveries and fan-outs, finish alerts; returns rows re-queued."""
    from alerts.services.fanout import sweep_deliveries as run
    from embassy.health import record_sweep

    report = run()
    if not report.overlapped:
        # GET /healthz reports how long ago a sweep last ran. One that did nothing because
        # another holds the lock is not one: a sweep stuck holding it must show as stale.
        record_sweep()
    return report.requeued


@shared_task
def fetch_missed_inbound_sms() -> int:
    """Beat: record inbound SMS Twilio received that the webhook missed (our web servers
    or database were down); returns how many were recorded."""
    from alerts.services.missed_inbound import fetch_missed_inbound_sms as run

    return run().recorded


@shared_task(acks_late=True)
def start_due_alerts() -> int:
    """Beat: start scheduled alerts whose send time has come; returns how many."""
    from alerts.services.alerts import start_due_alerts as run

    return len(run())


@shared_task
def queue_heartbeat() -> None:
    """Beat, on each send queue: a task that does nothing, so that an idle queue's
    workers show they are alive (``embassy.health``: recorded as any task's end)."""


@shared_task
def prune_webhook_events() -> int:
    """Beat: forget processed provider-event keys older than a week; returns how many."""
    from alerts.services.delivery_status import prune_webhook_events as run

    return run()


@shared_task
def apply_retention() -> int:
    """Beat, daily: clear expired sessions and delete personal data kept past its time
    (``embassy.retention``); returns how many rows went."""
    from embassy.retention import apply_retention as run

    report = run()
    return report.verifications + report.inbound_messages + report.unverified_citizens + report.outbox_messages
