"""Rotating SECRET_KEY: the old key in SECRET_KEY_FALLBACKS keeps every link already sent
working (unsubscribe links are meant to work for ever), and dropping it ends them.

The keys are set as a deployment sets them, from the environment (``SECRET_KEY_FALLBACKS``
or ``SECRET_KEY_FALLBACKS_FILE``); the links are followed through the pages a citizen opens.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.utils.crypto import salted_hmac

from alerts.models import CheckIn
from alerts.services import links
from alerts.services.links import check_in_url, unsubscribe_url
from embassy.deployment import check_secret_key_fallbacks
from embassy.env import env_secret_list
from registrations.models import Citizen, Verification
from registrations.services import manage_url, verify_code
from tests.factories import AlertFactory, CitizenFactory
from tests.foundation.production_env import PRODUCTION_ENV
from tests.registrations.conftest import last_code, last_link, valid_form

OLD_KEY = "the-old-key-" + "o" * 40
NEW_KEY = "the-new-key-" + "n" * 40
ANOTHER_OLD_KEY = "an-older-key-" + "a" * 40


def test_fallbacks_come_from_the_environment_or_a_file(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("SECRET_KEY_FALLBACKS", raising=False)
    assert env_secret_list("SECRET_KEY_FALLBACKS") == []
    monkeypatch.setenv("SECRET_KEY_FALLBACKS", f" {OLD_KEY} , {ANOTHER_OLD_KEY},")
    assert env_secret_list("SECRET_KEY_FALLBACKS") == [OLD_KEY, ANOTHER_OLD_KEY]
    monkeypatch.delenv("SECRET_KEY_FALLBACKS")
    keys = tmp_path / "fallbacks"
    keys.write_text(f"{OLD_KEY}\n\n{ANOTHER_OLD_KEY}\n")
    monkeypatch.setenv("SECRET_KEY_FALLBACKS_FILE", str(keys))
    assert env_secret_list("SECRET_KEY_FALLBACKS") == [OLD_KEY, ANOTHER_OLD_KEY]
    monkeypatch.setenv("SECRET_KEY_FALLBACKS", OLD_KEY)
    with pytest.raises(ImproperlyConfigured, match="not both"):
        env_secret_list("SECRET_KEY_FALLBACKS")


def test_a_fallback_must_look_like_an_earlier_key() -> None:
    check_secret_key_fallbacks(NEW_KEY, [OLD_KEY, ANOTHER_OLD_KEY])  # does not raise
    check_secret_key_fallbacks(NEW_KEY, [])
    with pytest.raises(ImproperlyConfigured, match="key 2 is only 12 characters long"):
        check_secret_key_fallbacks(NEW_KEY, [OLD_KEY, "the-old-key-"])
    with pytest.raises(ImproperlyConfigured, match="key 1 is SECRET_KEY itself"):
        check_secret_key_fallbacks(NEW_KEY, [NEW_KEY])


def _production_fallbacks(env: dict[str, str]) -> subprocess.CompletedProcess:
    code = "import django; django.setup(); from django.conf import settings; print(len(settings.SECRET_KEY_FALLBACKS))"
    return subprocess.run(
        [sys.executable, "-c", code],
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "embassy.settings.production", **PRODUCTION_ENV, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_reads_the_fallbacks_and_refuses_a_broken_one(tmp_path) -> None:
    keys = tmp_path / "fallbacks"
    keys.write_text(f"{OLD_KEY}\n{ANOTHER_OLD_KEY}\n")
    read = _production_fallbacks({"SECRET_KEY": NEW_KEY, "SECRET_KEY_FALLBACKS_FILE": str(keys)})
    assert read.returncode == 0, read.stderr
    assert read.stdout.strip() == "2"
    cut = _production_fallbacks({"SECRET_KEY": NEW_KEY, "SECRET_KEY_FALLBACKS": "short,key"})
    assert cut.returncode != 0
    assert "SECRET_KEY_FALLBACKS (or SECRET_KEY_FALLBACKS_FILE): key 1 is only 5 characters long" in cut.stderr
    assert "short" not in cut.stderr.replace("only 5", "")  # the key itself is never printed


# --- links sent before a rotation -----------------------------------------------------


@pytest.fixture
def rotate(settings, monkeypatch):
    """``rotate(fallbacks)``: SECRET_KEY becomes NEW_KEY and SECRET_KEY_FALLBACKS is read
    from the environment as ``fallbacks`` (comma-separated; "" for none), as base settings do."""

    def rotate_to(fallbacks: str) -> None:
        monkeypatch.setenv("SECRET_KEY_FALLBACKS", fallbacks)
        settings.SECRET_KEY = NEW_KEY
        settings.SECRET_KEY_FALLBACKS = env_secret_list("SECRET_KEY_FALLBACKS")

    settings.SECRET_KEY = OLD_KEY
    settings.SECRET_KEY_FALLBACKS = []
    return rotate_to


@pytest.fixture
def register(client, django_capture_on_commit_callbacks):
    """Post a registration (its code and email link go to the outbox)."""

    def post(data: dict[str, str]):  # type: ignore[no-untyped-def]
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/", data)

    return post


def _path(url: str) -> str:
    return url.removeprefix("http://testserver")


def _one_click(path: str):  # type: ignore[no-untyped-def]
    return Client(enforce_csrf_checks=True).post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )


@pytest.mark.django_db
def test_links_sent_with_the_old_key_work_while_it_is_a_fallback(rotate) -> None:
    citizen = CitizenFactory(email="sara@example.org")
    alert = AlertFactory()
    unsubscribe, check_in, manage = (
        _path(unsubscribe_url(citizen)),
        _path(check_in_url(citizen, alert)),
        manage_url(citizen),
    )
    tag = salted_hmac(links.UNSUBSCRIBE_SALT + ".address", "sara@example.org").hexdigest()[:24]
    legacy_unsubscribe = "/u/" + signing.dumps({"c": citizen.pk, "a": tag}, salt=links.UNSUBSCRIBE_SALT) + "/"

    rotate(f"{ANOTHER_OLD_KEY},{OLD_KEY}")

    assert Client().get(_path(manage)).status_code == 200
    answered = Client(enforce_csrf_checks=True).post(check_in, {"answer": "safe"})
    assert answered.status_code == 302 and "recorded=safe" in answered["Location"]
    assert CheckIn.objects.get().citizen == citizen
    # The earlier link format keeps knowing the address it was made for.
    assert "•••@example.org" in Client().get(legacy_unsubscribe).content.decode()
    assert _one_click(unsubscribe).status_code == 200
    citizen.refresh_from_db()
    assert citizen.email_opted_out_at is not None


@pytest.mark.django_db
def test_links_sent_with_the_old_key_stop_working_once_it_is_dropped(rotate) -> None:
    citizen = CitizenFactory(email="sara@example.org")
    unsubscribe, check_in, manage = _path(unsubscribe_url(citizen)), _path(check_in_url(citizen)), manage_url(citizen)

    rotate(ANOTHER_OLD_KEY)

    assert Client().get(_path(manage)).status_code == 404
    assert Client(enforce_csrf_checks=True).post(check_in, {"answer": "safe"}).status_code == 404
    assert _one_click(unsubscribe).status_code == 404
    citizen.refresh_from_db()
    assert citizen.email_opted_out_at is None and not CheckIn.objects.exists()
    # Links made with the new key work.
    assert _one_click(_path(unsubscribe_url(citizen))).status_code == 200


@pytest.mark.django_db
def test_a_code_and_an_email_link_sent_just_before_a_rotation_still_verify(client, register, rotate) -> None:
    register(valid_form())
    code, email_link = last_code("+93701234567"), last_link("sara@example.org")
    sms = Verification.objects.get(channel="sms")

    rotate(OLD_KEY)

    assert client.get(email_link).status_code == 302
    assert Citizen.objects.get().email_verified_at is not None
    assert verify_code(sms.pk, code).phone_verified_at is not None


@pytest.mark.django_db
def test_a_code_sent_before_a_rotation_fails_once_the_old_key_is_dropped(register, rotate) -> None:
    from registrations.services import VerificationError

    register(valid_form())
    code = last_code("+93701234567")
    sms = Verification.objects.get(channel="sms")

    rotate("")

    with pytest.raises(VerificationError, match="not right"):
        verify_code(sms.pk, code)
