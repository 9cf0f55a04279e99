"""Production settings refuse to start with the embedded defaults' development values:
the outbox, links to 127.0.0.1 or over plain HTTP, no Redis (tasks in web requests),
SQLite. Each rule is checked on ``embassy.deployment`` directly; a few real starts of
``embassy.settings.production`` prove the settings module applies them."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from embassy.deployment import deployment_problems, require_deployment_settings
from tests.foundation.production_env import PRODUCTION_ENV

GOOD: dict[str, Any] = {
    "DATABASES": {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "embassy"}},
    "REDIS_URL": "redis://redis.internal:6379/0",
    "CELERY_TASK_ALWAYS_EAGER": False,
    "PUBLIC_BASE_URL": "https://alerts.embassy.example",
    "ALLOWED_HOSTS": ["alerts.embassy.example"],
    "SMS_BACKEND": "twilio",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "token",
    "TWILIO_MESSAGING_SERVICE_SID": "MG" + "0" * 32,
    "TWILIO_FROM_NUMBER": "",
    "EMAIL_BACKEND_NAME": "sendgrid",
    "SENDGRID_API_KEY": "SG.key",
    "SENDGRID_WEBHOOK_PUBLIC_KEY": "public-key",
    "EMAIL_FROM_ADDRESS": "alerts@mfa.example",
    "CAP_SENDER": "alerts@mfa.example",
    "WATCHDOG_EMAILS": ["duty@mfa.example"],
}


def problems(allow_outbox: bool = False, **changes: Any) -> list[str]:
    return deployment_problems({**GOOD, **changes}, allow_outbox=allow_outbox)


def test_a_real_configuration_has_no_problem():
    assert problems() == []
    require_deployment_settings(GOOD)  # does not raise


@pytest.mark.parametrize("setting", ["SMS_BACKEND", "EMAIL_BACKEND_NAME"])
def test_the_development_outbox_is_refused(setting):
    (problem,) = problems(**{setting: "outbox"})
    assert problem.startswith(f"{setting} is 'outbox'")
    assert "never sent" in problem and "ALLOW_OUTBOX_BACKENDS=true" in problem


def test_a_staging_deployment_may_keep_the_outbox_when_it_says_so():
    outbox = {"SMS_BACKEND": "outbox", "EMAIL_BACKEND_NAME": "outbox", "TWILIO_AUTH_TOKEN": "", "SENDGRID_API_KEY": ""}
    assert problems(allow_outbox=True, **outbox) == []
    # ... and nothing else relaxes with it.
    assert problems(allow_outbox=True, PUBLIC_BASE_URL="http://127.0.0.1:8000", **outbox)


@pytest.mark.parametrize(
    ("changes", "names"),
    [
        ({"TWILIO_ACCOUNT_SID": ""}, ["TWILIO_ACCOUNT_SID"]),
        ({"TWILIO_AUTH_TOKEN": ""}, ["TWILIO_AUTH_TOKEN"]),
        ({"TWILIO_MESSAGING_SERVICE_SID": ""}, ["TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER"]),
        ({"SENDGRID_API_KEY": ""}, ["SENDGRID_API_KEY"]),
        ({"SENDGRID_WEBHOOK_PUBLIC_KEY": ""}, ["SENDGRID_WEBHOOK_PUBLIC_KEY"]),
    ],
)
def test_a_real_backend_needs_its_credentials(changes, names):
    found = problems(**changes)
    assert len(found) == len(names)
    for problem, name in zip(found, names, strict=True):
        assert name in problem


def test_a_from_number_is_a_sender_too():
    assert problems(TWILIO_MESSAGING_SERVICE_SID="", TWILIO_FROM_NUMBER="+15005550006") == []


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "PUBLIC_BASE_URL is not set"),
        ("http://127.0.0.1:8000", "PUBLIC_BASE_URL is not set"),
        ("http://alerts.embassy.example", "must start with https://"),
        ("https://localhost", "names this machine"),
        ("https://127.0.0.2:8443", "names this machine"),
        ("https://[::1]", "names this machine"),
        ("https://0.0.0.0", "names this machine"),
        ("https://app.localhost", "names this machine"),
        ("https://", "names no host"),
        ("https://alerts.other.example", "is not in ALLOWED_HOSTS"),
        ("https://alerts.embassy.example/?x=1", "without user, query or fragment"),
        ("https://alerts.embassy.example:port", "is not a URL"),
    ],
)
def test_public_base_url_must_be_this_sites_public_https_address(url, says):
    found = problems(PUBLIC_BASE_URL=url)
    assert found and all("PUBLIC_BASE_URL" in problem for problem in found)
    assert any(says in problem for problem in found), found
    assert any("personal link" in problem or "ALLOWED_HOSTS" in problem for problem in found)


def test_public_base_url_may_match_an_allowed_host_pattern():
    assert problems(PUBLIC_BASE_URL="https://kabul.embassy.example", ALLOWED_HOSTS=[".embassy.example"]) == []


@pytest.mark.parametrize("url", [None, ""])
def test_redis_is_required(url):
    (problem,) = problems(REDIS_URL=url)
    assert problem.startswith("REDIS_URL is not set") and "inside the web request" in problem


def test_redis_must_be_a_redis_url_and_tasks_must_not_run_in_process():
    assert problems(REDIS_URL="rediss://:pw@redis.internal:6380/0") == []
    assert problems(REDIS_URL="unix:///run/redis.sock") == []
    (problem,) = problems(REDIS_URL="memory://")
    assert "REDIS_URL must be a redis://" in problem
    (problem,) = problems(CELERY_TASK_ALWAYS_EAGER=True)
    assert problem.startswith("CELERY_TASK_ALWAYS_EAGER is on")


def test_sqlite_is_refused():
    (problem,) = problems(DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}})
    assert problem.startswith("DATABASE_URL is not set or names SQLite")


def test_every_problem_is_named_at_once():
    with pytest.raises(ImproperlyConfigured) as raised:
        require_deployment_settings({**GOOD, "SMS_BACKEND": "outbox", "REDIS_URL": None, "PUBLIC_BASE_URL": ""})
    message = str(raised.value)
    assert message.startswith("Production settings refuse to start:")
    for name in ("SMS_BACKEND", "REDIS_URL", "PUBLIC_BASE_URL"):
        assert f"\n- {name}" in message


# --- the settings module itself -------------------------------------------------------

SHOW = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.SMS_BACKEND, s.EMAIL_BACKEND_NAME, s.PUBLIC_BASE_URL, s.CELERY_TASK_ALWAYS_EAGER)"
)


def _start_production(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", SHOW],
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "embassy.settings.production", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_to_start_with_the_development_defaults():
    result = _start_production({"SECRET_KEY": "k" * 50, "ALLOWED_HOSTS": "alerts.example"})
    assert result.returncode != 0
    assert "ImproperlyConfigured: Production settings refuse to start" in result.stderr
    for name in ("DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL", "SMS_BACKEND", "EMAIL_BACKEND_NAME"):
        assert f"- {name}" in result.stderr, name


def test_production_starts_with_a_real_configuration():
    result = _start_production(PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["twilio", "sendgrid", "https://alerts.example", "False"]


def test_production_keeps_the_outbox_only_when_told():
    outbox = {**PRODUCTION_ENV, "SMS_BACKEND": "outbox", "EMAIL_BACKEND_NAME": "outbox"}
    refused = _start_production(outbox)
    assert refused.returncode != 0 and "SMS_BACKEND is 'outbox'" in refused.stderr
    staging = _start_production({**outbox, "ALLOW_OUTBOX_BACKENDS": "true"})
    assert staging.returncode == 0, staging.stderr
    assert staging.stdout.split()[:2] == ["outbox", "outbox"]


def test_manage_py_says_why_production_settings_refuse_and_fails():
    """Django's command runner swallows a settings error and runs on its own defaults:
    ``check --deploy`` passed (exit 0) on a production that refuses to start."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "embassy.settings.production"}
    refused = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=root,
        env={**env, "SECRET_KEY": "k" * 50, "ALLOWED_HOSTS": "alerts.example"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0
    assert "ImproperlyConfigured: Production settings refuse to start:" in refused.stderr
    assert "- REDIS_URL is not set" in refused.stderr
    passed = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=root,
        env={**env, **PRODUCTION_ENV, "SECRET_KEY": "ci-" + "k9Xq2" * 12},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert passed.returncode == 0, passed.stdout + passed.stderr


def test_the_example_senders_are_refused():
    found = problems(CAP_SENDER="alerts@embassy.example", EMAIL_FROM_ADDRESS="alerts@embassy.example")
    assert len(found) == 2
    assert found[0].startswith("CAP_SENDER is not set") and "cannot change once documents are out" in found[0]
    assert found[1].startswith("EMAIL_FROM_ADDRESS is not set") and "verified" in found[1]
    # The outbox sends no email: its From address does not matter there.
    assert problems(allow_outbox=True, EMAIL_BACKEND_NAME="outbox", EMAIL_FROM_ADDRESS="alerts@embassy.example") == []
