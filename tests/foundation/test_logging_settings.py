"""Every settings module's logging, and a Celery worker's, masks contacts.

Each check runs in a fresh interpreter with the settings module as a deployment starts
it: production (with only what it requires), local, and the test settings; then it sets
up logging as ``celery -A embassy worker`` does (Celery replaces the root logger's
handlers and gives its task logger one more) and logs contacts, in messages and in a
traceback, through our loggers, Django's (``django.request``; ``django.server``, which
runserver writes requests to) and Celery's task logger: each line is written once, masked.
Django's defaults give its loggers handlers of their own, without the filter (a console
one with DEBUG on, as in the local settings), unless ``LOGGING`` takes them over.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.foundation.production_env import PRODUCTION_ENV

ROOT = Path(__file__).resolve().parents[2]
PHONE, EMAIL = "+447700900123", "sara.rahimi@example.org"

CHECK = f"""
import logging, sys
import django
django.setup()
from django.conf import settings
from embassy.logging import RedactContactsFilter

config = settings.LOGGING
for name, handler in config["handlers"].items():
    assert "redact" in handler.get("filters", []), f"LOGGING handler {{name}} has no redact filter"
assert config["filters"]["redact"]["()"] == "embassy.logging.RedactContactsFilter"

def masked_everywhere(what):
    loggers = [logging.getLogger()] + [logging.getLogger(n) for n in logging.root.manager.loggerDict]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, logging.NullHandler):  # writes nothing
                continue
            assert any(isinstance(f, RedactContactsFilter) for f in handler.filters), (what, logger.name, handler)

def log_contacts(tag):
    from celery.utils.log import get_task_logger
    loggers = ("alerts.channels.twilio", "django.request", "django.server")
    for logger in [*map(logging.getLogger, loggers), get_task_logger("alerts.tasks")]:
        logger.error("%s to %s and %s", tag, "{PHONE}", "{EMAIL}")
        try:
            raise ValueError("refused {PHONE} / {EMAIL}")
        except ValueError:
            logger.exception("%s failed", tag)

masked_everywhere("django")
log_contacts("django-logging")
from embassy.celery import app
app.log.setup_logging_subsystem(loglevel="DEBUG")
app.log.setup_task_loggers(loglevel="DEBUG")
masked_everywhere("celery")
log_contacts("celery-logging")
print("checked")
"""

SETTINGS = {
    "embassy.settings.production": PRODUCTION_ENV,
    "embassy.settings.local": {},
    "embassy.settings.test": {},
}


@pytest.mark.parametrize("module", list(SETTINGS))
def test_each_settings_module_and_a_worker_mask_contacts_in_every_handler(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": module, **SETTINGS[module]},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("checked")
    written = result.stderr
    for tag in ("django-logging", "celery-logging"):
        assert written.count(f"{tag} to [phone] and [email]") == 4
        assert written.count(f"{tag} failed") == 4
    assert written.count("ValueError: refused [phone] / [email]") == 8
    assert PHONE not in written and EMAIL not in written and PHONE[1:] not in written
