"""A Celery worker or beat started without ``-l`` writes its log at ``LOG_LEVEL``, as the
web processes do; an explicit ``-l`` (or click's ``CELERY_WORKER_LOGLEVEL``) still wins.
Either way every line is masked.

Each check runs the real command line (``celery -A embassy worker`` / ``beat``) in a fresh
interpreter with the production settings; once Celery has set up its logging (the
``celeryd_after_setup`` and ``beat_init`` signals, before any broker is reached) a probe
logs a contact at each level through one of our loggers and a task logger, and exits.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from embassy.celery import _LEVEL_FROM_SETTINGS, _set_up_celery_logs, log_level_from_settings
from tests.foundation.production_env import PRODUCTION_ENV

ROOT = Path(__file__).resolve().parents[2]
PHONE, EMAIL = "+447700900123", "sara.rahimi@example.org"

PROBE = f"""
import logging, os, sys
from celery import signals

def probe(**_kwargs):
    from celery.utils.log import get_task_logger
    for logger in (logging.getLogger("alerts.probe"), get_task_logger("alerts.tasks")):
        for level in ("debug", "info", "warning", "error"):
            getattr(logger, level)("probe %s %s to %s and %s", logger.name, level, "{PHONE}", "{EMAIL}")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)

signals.celeryd_after_setup.connect(probe, weak=False)
signals.beat_init.connect(probe, weak=False)
from celery.__main__ import main
sys.argv = ["celery", "-A", "embassy", *sys.argv[1:]]
main()
"""


def run(*arguments: str, **env: str) -> set[tuple[str, str]]:
    """Start ``celery -A embassy <arguments>`` with ``env``; return the (logger, level)
    pairs of the probe's lines it wrote, each checked to be masked."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *arguments],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "embassy.settings.production",
            **PRODUCTION_ENV,  # its REDIS_URL is never reached: the probe exits first
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    written = result.stdout + result.stderr
    assert PHONE not in written and EMAIL not in written and PHONE[1:] not in written
    lines = [line for line in written.splitlines() if "probe alerts." in line]
    assert all(line.endswith("to [phone] and [email]") for line in lines), lines
    return {re.search(r"probe (alerts\.\w+) (\w+) to", line).groups() for line in lines}


def levels(found: set[tuple[str, str]], logger: str) -> set[str]:
    return {level for name, level in found if name == logger}


ALL = {"debug", "info", "warning", "error"}
FROM_INFO = {"info", "warning", "error"}
FROM_WARNING = {"warning", "error"}


@pytest.mark.parametrize(("log_level", "expected"), [("DEBUG", ALL), ("WARNING", FROM_WARNING)])
def test_a_worker_without_l_writes_at_log_level(log_level: str, expected: set[str]) -> None:
    found = run("worker", LOG_LEVEL=log_level)
    assert levels(found, "alerts.probe") == expected
    assert levels(found, "alerts.tasks") == expected


def test_a_worker_without_l_or_log_level_writes_info_as_the_web_does() -> None:
    found = run("worker")
    assert levels(found, "alerts.probe") == levels(found, "alerts.tasks") == FROM_INFO


@pytest.mark.parametrize("arguments", [("-l", "WARNING"), ("--loglevel=warning",)])
def test_an_explicit_l_wins_over_log_level_even_when_it_is_celerys_default(arguments: tuple[str, ...]) -> None:
    found = run("worker", *arguments, LOG_LEVEL="DEBUG")
    assert levels(found, "alerts.probe") == levels(found, "alerts.tasks") == FROM_WARNING


def test_celerys_own_environment_variable_is_an_explicit_level_too() -> None:
    found = run("worker", LOG_LEVEL="DEBUG", CELERY_WORKER_LOGLEVEL="ERROR")
    assert levels(found, "alerts.probe") == levels(found, "alerts.tasks") == {"error"}


def test_beat_without_l_writes_at_log_level_and_with_l_at_its_own(tmp_path: Path) -> None:
    schedule = ("-s", str(tmp_path / "beat-schedule"))  # not beside the code
    assert levels(run("beat", *schedule, LOG_LEVEL="DEBUG"), "alerts.probe") == ALL
    assert levels(run("beat", *schedule, "-l", "ERROR", LOG_LEVEL="DEBUG"), "alerts.probe") == {"error"}


def test_a_pool_process_started_afresh_takes_the_level_its_worker_took(monkeypatch) -> None:
    """A "spawn" pool process sets up logging again with no command line to read: it takes
    the level its worker passed on; without one, Celery's level set from code stands."""
    logger = logging.getLogger("embassy.test-celery-log-level")
    logger.setLevel(logging.WARNING)
    monkeypatch.setattr("embassy.celery.redact_handlers", lambda: None)  # not this process's handlers
    monkeypatch.delenv(_LEVEL_FROM_SETTINGS, raising=False)
    assert click.get_current_context(silent=True) is None
    assert log_level_from_settings() is None
    _set_up_celery_logs(logger=logger)
    assert logger.level == logging.WARNING

    monkeypatch.setenv(_LEVEL_FROM_SETTINGS, "DEBUG")
    _set_up_celery_logs(logger=logger)
    assert logger.level == logging.DEBUG
