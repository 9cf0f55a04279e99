"""EMBASSY_TIME_ZONE: the post's zone is read strictly, and a wrong name stops the start."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from embassy.env import env_time_zone
from tests.foundation.production_env import PRODUCTION_ENV


def _settings_value(module: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    code = "import django; django.setup(); from django.conf import settings; print(settings.EMBASSY_TIME_ZONE)"
    return subprocess.run(
        [sys.executable, "-c", code],
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": module, **env},
        capture_output=True,
        text=True,
    )


PRODUCTION = PRODUCTION_ENV


def test_it_reads_a_time_zone_name(monkeypatch):
    monkeypatch.delenv("EMBASSY_TIME_ZONE", raising=False)
    assert env_time_zone("EMBASSY_TIME_ZONE", "UTC") == "UTC"
    monkeypatch.setenv("EMBASSY_TIME_ZONE", " Asia/Kabul ")
    assert env_time_zone("EMBASSY_TIME_ZONE", "UTC") == "Asia/Kabul"


WRONG_NAMES = ["Kabul", "asia/kabul", "Asia/Kabol", "", "../etc/passwd", "/etc/localtime", "zone.tab"]


@pytest.mark.parametrize("wrong", WRONG_NAMES)
def test_an_unknown_time_zone_is_a_configuration_error_naming_the_variable(monkeypatch, wrong):
    monkeypatch.setenv("EMBASSY_TIME_ZONE", wrong)
    with pytest.raises(ImproperlyConfigured, match="EMBASSY_TIME_ZONE must be a time zone name such as Asia/Kabul"):
        env_time_zone("EMBASSY_TIME_ZONE", "UTC")


def test_production_refuses_to_start_with_an_unknown_time_zone():
    result = _settings_value("embassy.settings.production", {**PRODUCTION, "EMBASSY_TIME_ZONE": "Asia/Kabol"})
    assert result.returncode != 0
    assert "EMBASSY_TIME_ZONE must be a time zone name" in result.stderr
    assert "'Asia/Kabol'" in result.stderr


def test_production_keeps_utc_unless_told_and_takes_the_zone_it_is_given():
    assert _settings_value("embassy.settings.production", PRODUCTION).stdout.strip() == "UTC"
    given = _settings_value("embassy.settings.production", {**PRODUCTION, "EMBASSY_TIME_ZONE": "Asia/Kabul"})
    assert given.returncode == 0, given.stderr
    assert given.stdout.strip() == "Asia/Kabul"


def test_the_demo_is_in_kabul_time():
    result = _settings_value("embassy.settings.local", {})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Asia/Kabul"
