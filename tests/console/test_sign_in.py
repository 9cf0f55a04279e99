"""Signing in: passwords, two-factor codes for approvers and administrators, lockout."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from alerts.console.permissions import Role
from alerts.models import AuditEntry
from tests.console.conftest import TEST_PASSWORD, current_code, make_staff, sign_in, wrong_code
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LOGIN = reverse("console:login")
SITUATION = reverse("console:situation")


def post_login(client: Client, username: str, password: str = TEST_PASSWORD, code: str = ""):  # type: ignore[no-untyped-def]
    return client.post(LOGIN, {"username": username, "password": password, "otp_token": code})


def test_the_login_page_labels_every_field():
    response = Client().get(LOGIN)
    assert response.status_code == 200
    body = response.content.decode()
    for field in ("id_username", "id_password", "id_otp_token"):
        assert f'for="{field}"' in body


def test_an_anonymous_visitor_is_sent_to_the_login_page():
    response = Client().get(SITUATION)
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)


def test_an_author_signs_in_with_a_password_alone(author):
    client = Client()
    response = post_login(client, author.username)
    assert response.status_code == 302
    assert response["Location"] == SITUATION
    assert client.get(SITUATION).status_code == 200
    assert AuditEntry.objects.filter(action="login", actor=author).exists()


def test_a_wrong_password_is_refused(author):
    response = post_login(Client(), author.username, password="wrong password entirely")
    assert response.status_code == 200
    assert "do not match" in response.content.decode()


def test_an_account_without_a_console_role_or_staff_status_cannot_sign_in():
    # Staff without a console role do sign in here: it is the Django admin's only sign-in
    # (tests/console/test_admin_two_factor.py).
    user = UserFactory(is_staff=False)
    client = Client()
    response = post_login(client, user.username)
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_a_signed_in_user_without_a_role_gets_forbidden():
    user = UserFactory()
    client = Client()
    client.force_login(user)
    assert client.get(SITUATION).status_code == 403


def test_an_approver_cannot_sign_in_without_the_code(approver):
    client = Client()
    response = post_login(client, approver.username)
    assert response.status_code == 200
    assert "six-digit code" in response.content.decode()
    assert client.get(SITUATION).status_code == 302


def test_an_approver_with_a_wrong_code_is_refused(approver):
    device = TOTPDevice.objects.get(user=approver)
    client = Client()
    response = post_login(client, approver.username, code=wrong_code(device))
    assert response.status_code == 200
    assert "not right" in response.content.decode()
    assert client.get(SITUATION).status_code == 302


def test_an_approver_with_the_current_code_is_signed_in_and_verified(approver):
    device = TOTPDevice.objects.get(user=approver)
    client = Client()
    response = post_login(client, approver.username, code=current_code(device))
    assert response.status_code == 302
    assert client.get(SITUATION).status_code == 200
    entry = AuditEntry.objects.get(action="login", actor=approver)
    assert entry.after == {"two_factor": True}


def test_a_code_cannot_be_used_twice(approver):
    device = TOTPDevice.objects.get(user=approver)
    code = current_code(device)
    assert post_login(Client(), approver.username, code=code).status_code == 302
    assert post_login(Client(), approver.username, code=code).status_code == 200


def test_an_administrator_session_without_two_factor_cannot_open_the_console(administrator):
    client = sign_in(Client(), administrator, verified=False)
    response = client.get(SITUATION)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("console:otp-verify"))


def test_an_approver_session_without_two_factor_is_asked_for_a_code_and_then_let_in(approver):
    client = sign_in(Client(), approver, verified=False)
    device = TOTPDevice.objects.get(user=approver)
    response = client.post(
        reverse("console:otp-verify") + "?next=/console/alerts/", {"otp_token": current_code(device)}
    )
    assert response.status_code == 302
    assert response["Location"] == "/console/alerts/"
    assert client.get(SITUATION).status_code == 200


def test_an_approver_without_an_authenticator_must_enrol_before_anything_else(db):
    approver = make_staff(Role.APPROVER, device=False)
    client = Client()
    response = post_login(client, approver.username)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("console:otp-enrol"))
    assert client.get(SITUATION)["Location"].startswith(reverse("console:otp-enrol"))

    page = client.get(reverse("console:otp-enrol"))
    assert page.status_code == 200
    assert "otpauth://totp/" in page.content.decode()
    device = TOTPDevice.objects.get(user=approver, confirmed=False)
    assert page.context["secret"] in page.content.decode()

    response = client.post(reverse("console:otp-enrol"), {"otp_token": current_code(device)})
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    assert client.get(SITUATION).status_code == 200
    assert AuditEntry.objects.filter(action="otp_enrolled", actor=approver).exists()


def test_enrolment_is_closed_once_an_authenticator_exists(approver):
    client = sign_in(Client(), approver, verified=False)
    response = client.get(reverse("console:otp-enrol"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("console:otp-verify"))
    assert not TOTPDevice.objects.filter(user=approver, confirmed=False).exists()


def test_repeated_wrong_passwords_lock_the_account_out(author):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        post_login(client, author.username, password="not the password at all")
    response = post_login(client, author.username)  # even the right password now
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_repeated_wrong_codes_lock_the_account_out(approver):
    device = TOTPDevice.objects.get(user=approver)
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        post_login(client, approver.username, code=wrong_code(device))
    # Clear django-otp's own slow-down, so only the lockout can refuse the right code.
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0, throttling_failure_timestamp=None)
    response = post_login(client, approver.username, code=current_code(device))
    assert response.status_code == 429


def test_signing_out_is_recorded(author_client, author):
    response = author_client.post(reverse("console:logout"))
    assert response.status_code == 302
    assert AuditEntry.objects.filter(action="logout", actor=author).exists()
    assert author_client.get(SITUATION).status_code == 302
