"""Celery tasks of the registrations app: thin wrappers that call a service."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True)
def requeue_verification_messages() -> int:
    """Beat: queue again verification codes and links that never reached a worker
    (their publish failed, or Redis lost their task); returns how many."""
    from registrations.verification_messages import requeue_unsent

    return requeue_unsent()
