"""Celery tasks of the registrations app: thin wrappers that call a service."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True)
def requeue_verification_messages() -> int:
    """Beat: queue again verification codes and links, and self-service links, that
    never reached a worker (their publish failed, or Redis lost their task), and codes
    and links whose worker died after claiming them; returns how many."""
    from registrations import manage_links, verification_messages

    return verification_messages.requeue_unsent() + manage_links.requeue_unsent()
