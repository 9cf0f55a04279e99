"""Authenticator set-up needs a one-time code an administrator issued
(OTP_ENROLMENT_NEEDS_SETUP_CODE, on in production): a stolen password alone cannot enrol
an attacker's phone."""

from __future__ import annotations

import datetime

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from alerts.console import otp
from alerts.console.permissions import Role
from alerts.models import AuditEntry
from tests.console.conftest import current_code, make_staff, sign_in
from tests.factories import TEST_PASSWORD

ENROL = reverse("console:otp-enrol")
SITUATION = reverse("console:situation")


@pytest.fixture(autouse=True)
def codes_needed(settings):
    settings.OTP_ENROLMENT_NEEDS_SETUP_CODE = True
    settings.OTP_SETUP_CODE_HOURS = 72


def _new_approver(client: Client):  # type: ignore[no-untyped-def]
    approver = make_staff(Role.APPROVER, device=False)
    response = client.post(reverse("console:login"), {"username": approver.username, "password": TEST_PASSWORD})
    assert response["Location"].startswith(ENROL)
    return approver


def test_without_a_set_up_code_no_secret_is_ever_shown(db) -> None:
    client = Client()
    approver = _new_approver(client)
    page = client.get(ENROL).content.decode()
    assert "Set-up code" in page and "otpauth://" not in page
    assert not TOTPDevice.objects.filter(user=approver).exists()
    response = client.post(ENROL, {"setup_code": "aaaa-bbbb-cccc-dddd"})
    assert "otpauth://" not in response.content.decode()
    assert "not right" in response.content.decode()
    assert client.get(SITUATION)["Location"].startswith(ENROL)
    assert AuditEntry.objects.filter(action="otp_setup_code_refused", actor=approver).exists()


def test_an_administrator_issues_a_code_and_the_approver_sets_up_with_it(administrator) -> None:
    client = Client()
    approver = _new_approver(client)
    admin_client = sign_in(Client(), administrator)
    staff_page = admin_client.get(reverse("console:staff")).content.decode()
    assert "Issue set-up code" in staff_page
    issued = admin_client.post(reverse("console:staff-update", args=[approver.pk]), {"action": "issue_setup_code"})
    assert issued.status_code == 200 and issued["Cache-Control"] == "no-store"
    code = issued.context["code"]
    assert len(code) == 19 and code in issued.content.decode()
    entry = AuditEntry.objects.get(action="issue_otp_setup_code")
    assert entry.actor == administrator and code.replace("-", "") not in str(entry.before) + str(entry.after)

    response = client.post(ENROL, {"setup_code": code.upper().replace("-", " ")})  # as typed from a phone call
    assert response.status_code == 302
    page = client.get(ENROL).content.decode()
    assert "otpauth://totp/" in page
    device = TOTPDevice.objects.get(user=approver, confirmed=False)
    assert client.post(ENROL, {"otp_token": current_code(device)}).status_code == 302
    assert client.get(SITUATION).status_code == 200
    assert not StaticDevice.objects.filter(user=approver).exists()  # the code is used up


def test_a_code_works_once(db) -> None:
    approver = make_staff(Role.APPROVER, device=False)
    code = otp.issue_setup_code(approver)
    assert otp.redeem_setup_code(approver, code)
    assert not otp.redeem_setup_code(approver, code)


def test_a_new_code_voids_the_earlier_one(db, settings) -> None:
    settings.OTP_STATIC_THROTTLE_FACTOR = 0  # the wrong try below would slow the next one down
    approver = make_staff(Role.APPROVER, device=False)
    first = otp.issue_setup_code(approver)
    second = otp.issue_setup_code(approver)
    assert not otp.redeem_setup_code(approver, first)
    assert otp.redeem_setup_code(approver, second)


def test_a_wrong_guess_slows_the_next_try_down(db) -> None:
    approver = make_staff(Role.APPROVER, device=False)
    code = otp.issue_setup_code(approver)
    assert not otp.redeem_setup_code(approver, "aaaa-bbbb-cccc-dddd")
    assert not otp.redeem_setup_code(approver, code)  # right, but too soon after a wrong one
    StaticDevice.objects.filter(user=approver).update(throttling_failure_timestamp=None, throttling_failure_count=0)
    assert otp.redeem_setup_code(approver, code)


def test_a_code_expires(db, settings) -> None:
    approver = make_staff(Role.APPROVER, device=False)
    code = otp.issue_setup_code(approver)
    StaticDevice.objects.filter(user=approver).update(
        created_at=datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=73)
    )
    assert not otp.redeem_setup_code(approver, code)


def test_a_code_is_for_its_own_user_only(db) -> None:
    approver, other = make_staff(Role.APPROVER, device=False), make_staff(Role.APPROVER, device=False)
    code = otp.issue_setup_code(approver)
    assert not otp.redeem_setup_code(other, code)
    assert otp.redeem_setup_code(approver, code)


def test_a_code_is_never_a_second_factor_at_sign_in(db) -> None:
    approver = make_staff(Role.APPROVER, device=False)
    otp.issue_setup_code(approver)
    assert otp.confirmed_devices(approver) == []


def test_the_command_issues_a_code_for_the_first_administrator(db, capsys) -> None:
    admin = make_staff(Role.ADMINISTRATOR, device=False)
    call_command("issue_setup_code", admin.username)
    code = capsys.readouterr().out.strip()
    assert otp.redeem_setup_code(admin, code)
    assert AuditEntry.objects.filter(action="issue_otp_setup_code").exists()
    with pytest.raises(CommandError, match="no active user"):
        call_command("issue_setup_code", "nobody-of-that-name")


def test_the_demo_and_the_tests_need_no_code_but_production_does() -> None:
    from embassy.settings import base

    assert base.OTP_ENROLMENT_NEEDS_SETUP_CODE is True  # what a deployment gets unless it says otherwise
