from __future__ import annotations

import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from embassy.env import env_bool, env_int, env_rate, env_secret
from tests.foundation.production_env import PRODUCTION_ENV


def test_it_reads_booleans_strictly(monkeypatch):
    monkeypatch.setenv("FLAG", "yes")
    assert env_bool("FLAG", False) is True
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG must be a boolean"):
        env_bool("FLAG", False)


def test_it_rejects_a_malformed_number_and_rate(monkeypatch):
    monkeypatch.setenv("N", "fast")
    with pytest.raises(ImproperlyConfigured, match="N must be a whole number"):
        env_int("N", 1)
    monkeypatch.setenv("R", "10/fortnight")
    with pytest.raises(ImproperlyConfigured, match="R must look like"):
        env_rate("R", "1/h")
    monkeypatch.setenv("R", "10/m")
    assert env_rate("R", "1/h") == (10, 60)


def test_it_reads_secrets_from_files(monkeypatch, tmp_path):
    secret = tmp_path / "key"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("API_KEY_FILE", str(secret))
    assert env_secret("API_KEY") == "s3cret"
    monkeypatch.setenv("API_KEY", "other")
    with pytest.raises(ImproperlyConfigured, match="not both"):
        env_secret("API_KEY")


def _start_production(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "embassy.settings.production", **env},
        capture_output=True,
        text=True,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = _start_production({"ALLOWED_HOSTS": "alerts.example"})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_starts_with_debug_off_when_configured():
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "embassy.settings.production",
            **PRODUCTION_ENV,
        },
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_it_reads_a_cap_sender_and_refuses_one_cap_forbids(monkeypatch):
    from embassy.env import env_cap_name

    assert env_cap_name("CAP_SENDER_X", "alerts@embassy.example") == "alerts@embassy.example"
    monkeypatch.setenv("CAP_SENDER_X", " cap@kabul.embassy.example ")
    assert env_cap_name("CAP_SENDER_X", "x") == "cap@kabul.embassy.example"
    for bad in ("", "the embassy", "a,b", "a<b", "a&b"):
        monkeypatch.setenv("CAP_SENDER_X", bad)
        with pytest.raises(ImproperlyConfigured, match="CAP_SENDER_X must be a CAP sender"):
            env_cap_name("CAP_SENDER_X", "x")
