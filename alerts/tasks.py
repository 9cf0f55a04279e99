"""Celery tasks of the alerts app: thin wrappers that load by id and call a service."""

from __future__ import annotations

from celery import shared_task

from alerts.channels import ChannelError
from alerts.notify import send_message


@shared_task(bind=True, max_retries=6, acks_late=True)
def send_single_message(self, payload: dict) -> str | None:  # type: ignore[no-untyped-def]
    """Send a verification code, link or reply; retry transient failures with backoff."""
    try:
        return send_message(payload).provider_message_id
    except ChannelError as exc:
        if exc.permanent:
            return None
        countdown = exc.retry_after or min(300, 2 ** (self.request.retries + 1))
        raise self.retry(exc=exc, countdown=countdown) from exc


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

    return run().requeued


@shared_task(acks_late=True)
def start_due_alerts() -> int:
    """Beat: start scheduled alerts whose send time has come; returns how many."""
    from alerts.services.alerts import start_due_alerts as run

    return len(run())


@shared_task
def prune_webhook_events() -> int:
    """Beat: forget processed provider-event keys older than a week; returns how many."""
    from alerts.services.delivery_status import prune_webhook_events as run

    return run()
