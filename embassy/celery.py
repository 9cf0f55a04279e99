"""The Celery application. Workers: ``celery -A embassy worker``; beat: ``celery -A embassy beat``."""

from __future__ import annotations

import logging
import os

import click
from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger, task_postrun, task_prerun, worker_process_init
from click.core import ParameterSource

from embassy.logging import redact_handlers

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "embassy.settings.local")

if os.environ.get("EMBASSY_LOOPBACK_ONLY") == "1":
    # Test runs start real workers: they may reach nothing beyond this machine.
    from embassy.netguard import allow_loopback_only

    allow_loopback_only()

app = Celery("embassy")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# What a worker passes to its pool processes that set up logging afresh (a "spawn"
# start method): the level it took from LOG_LEVEL, as they have no command line to read.
_LEVEL_FROM_SETTINGS = "EMBASSY_CELERY_LOG_LEVEL"


def log_level_from_settings() -> str | None:
    """``settings.LOG_LEVEL`` when the running ``celery worker`` or ``celery beat`` was
    not given a log level; None when it was, or when no such command is running.

    Celery's ``-l`` / ``--loglevel`` defaults to WARNING, and by the time Celery sets up
    logging an explicit ``-l WARNING`` and no ``-l`` at all look the same. The command line
    tells them apart: Celery's commands are click commands, and click records where each
    parameter's value came from. A value typed on the command line, or given by click's
    environment variable (``CELERY_WORKER_LOGLEVEL``, ``CELERY_BEAT_LOGLEVEL``), wins;
    only click's own default gives way to ``LOG_LEVEL``. Celery's logging set up from
    code (``app.log.setup(...)``, no command running) is left at the level it is given.
    """
    context = click.get_current_context(silent=True)
    if context is None or "loglevel" not in context.params:
        return os.environ.get(_LEVEL_FROM_SETTINGS) or None  # a pool process started afresh
    if context.get_parameter_source("loglevel") is not ParameterSource.DEFAULT:
        os.environ.pop(_LEVEL_FROM_SETTINGS, None)
        return None
    from django.conf import settings

    level = str(settings.LOG_LEVEL)
    os.environ[_LEVEL_FROM_SETTINGS] = level
    return level


@after_setup_logger.connect
@after_setup_task_logger.connect
def _set_up_celery_logs(logger: logging.Logger | None = None, **_kwargs: object) -> None:
    """Write a worker's and beat's log at ``LOG_LEVEL`` unless their command line set one
    (``log_level_from_settings``), and mask contacts in every line they write, as
    ``LOGGING`` does elsewhere.

    Celery sets the root logger (``after_setup_logger``) and its task logger
    (``after_setup_task_logger``) to its own ``-l`` level, WARNING unless given. It also
    replaces the root logger's handlers that ``LOGGING`` set up (with their
    ``RedactContactsFilter``) by its own, and adds more to its task logger and to the
    multiprocessing logger: without the filter the worker's log carries what it would
    have masked (our own messages, the tracebacks of failed tasks, Celery's dump of a task
    it does not know, with its arguments). Every handler of every logger gets the filter."""
    level = log_level_from_settings()
    if level is not None and logger is not None:
        logger.setLevel(level)
    redact_handlers()


@worker_process_init.connect
def _import_the_pipeline(**_kwargs: object) -> None:
    """Import the alert pipeline and the provider SDKs in each worker process at start,
    so that the first alert after a deploy does not wait for them."""
    import alerts.channels.sendgrid
    import alerts.channels.twilio
    import alerts.ratelimit
    import alerts.services.fanout  # noqa: F401


@task_postrun.connect
def _note_send_queue_activity(sender: object = None, **_kwargs: object) -> None:
    """A task on a send queue finished: that queue's workers are alive (/healthz's
    ``send_queue_age_s``)."""
    request = getattr(sender, "request", None)
    if request is None or getattr(request, "is_eager", False):
        return
    queue = (getattr(request, "delivery_info", None) or {}).get("routing_key")
    from django.conf import settings

    if queue in settings.ALERT_SEND_QUEUES.values():
        from embassy.health import record_queue_activity

        record_queue_activity(queue)


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
