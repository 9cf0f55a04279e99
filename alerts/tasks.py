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
