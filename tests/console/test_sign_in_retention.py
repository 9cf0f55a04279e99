"""Staff sign-in records (django-axes) go ``RETENTION_SIGN_IN_DAYS`` after the attempt,
never while they may still lock someone out (embassy.retention)."""

from __future__ import annotations

import datetime
import subprocess
import sys

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from embassy.retention import apply_retention
from tests.console.conftest import TEST_PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = reverse("console:login")


def sign_in(username: str, password: str = TEST_PASSWORD) -> int:
    return Client().post(LOGIN, {"username": username, "password": password, "otp_token": ""}).status_code


def backdate(days: float) -> None:
    when = timezone.now() - datetime.timedelta(days=days)
    for model in (AccessAttempt, AccessFailureLog, AccessLog):
        model.objects.update(attempt_time=when)


def test_records_of_real_sign_ins_go_after_ninety_days_and_stay_before(author, settings):
    settings.AXES_ENABLE_ACCESS_FAILURE_LOG = True
    sign_in(author.username)
    sign_in(author.username, password="not the password")
    assert AccessLog.objects.count() == 1 and AccessAttempt.objects.count() == 1
    assert AccessFailureLog.objects.count() == 1

    backdate(89)
    assert apply_retention().sign_in_records == 0
    assert AccessLog.objects.count() == AccessAttempt.objects.count() == AccessFailureLog.objects.count() == 1

    backdate(91)
    assert apply_retention().sign_in_records == 3
    assert not (AccessLog.objects.exists() or AccessAttempt.objects.exists() or AccessFailureLog.objects.exists())


def test_a_lock_out_under_way_is_kept_and_still_holds(author):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(author.username, password="not the password")
    assert sign_in(author.username) == 429

    apply_retention()

    assert AccessAttempt.objects.filter(username=author.username).exists()
    assert sign_in(author.username) == 429  # still locked out


def test_the_days_are_a_setting(author, settings):
    sign_in(author.username, password="not the password")
    backdate(20)
    settings.RETENTION_SIGN_IN_DAYS = 30
    assert apply_retention().sign_in_records == 0
    settings.RETENTION_SIGN_IN_DAYS = 10
    assert apply_retention().sign_in_records == 1


def _start(**environ: str) -> subprocess.CompletedProcess[str]:
    code = "import django; django.setup(); from django.conf import settings; print(settings.RETENTION_SIGN_IN_DAYS)"
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "embassy.settings.local", **environ}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_the_setting_is_read_from_the_environment():
    assert _start(RETENTION_SIGN_IN_DAYS="30").stdout.strip() == "30"


def test_a_retention_shorter_than_a_lock_out_is_refused_at_start():
    refused = _start(RETENTION_SIGN_IN_DAYS="2", AXES_COOLOFF_HOURS="72")
    assert refused.returncode != 0
    assert "RETENTION_SIGN_IN_DAYS must be longer than AXES_COOLOFF_HOURS" in refused.stderr
    assert _start(RETENTION_SIGN_IN_DAYS="4", AXES_COOLOFF_HOURS="72").returncode == 0
