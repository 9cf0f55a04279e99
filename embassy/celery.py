"""The Celery application. Workers: ``celery -A embassy worker``; beat: ``celery -A embassy beat``."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger, task_postrun, task_prerun, worker_process_init

from embassy.logging import redact_handlers

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "embassy.settings.local")

if os.environ.get("EMBASSY_LOOPBACK_ONLY") == "1":
    # Test runs start real workers: they may reach nothing beyond this machine.
    from embassy.netguard import allow_loopback_only

    allow_loopback_only()

app = Celery("embassy")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _redact_contacts_in_celery_logs(**_kwargs: object) -> None:
    """Mask contacts in every line a worker or beat writes, as ``LOGGING`` does elsewhere.

    Celery replaces the root logger's handlers that ``LOGGING`` set up (with their
    ``RedactContactsFilter``) by its own, and adds more to its task logger and to the
    multiprocessing logger: without this the worker's log carries what the filter would
    have masked (our own messages, the tracebacks of failed tasks, Celery's dump of a task
    it does not know, with its arguments). Every handler of every logger gets the filter."""
    redact_handlers()


@worker_process_init.connect
def _import_the_pipeline(**_kwargs: object) -> None:
    """Import the alert pipeline and the provider SDKs in each worker process at start,
    so that the first alert after a deploy does not wait for them."""
    import alerts.channels.sendgrid
    import alerts.channels.twilio
    import alerts.ratelimit
    import alerts.services.fanout  # noqa: F401


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(sender: object = None, **_kwargs: object) -> None:
    """Around each task what Django does around each request: close database connections
    that are broken or older than CONN_MAX_AGE, keep the others (settings:
    CELERY_DB_REUSE_MAX). Not for a task run in-process (eagerly): its caller's
    connection, perhaps inside a transaction, is not the task's to close."""
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
