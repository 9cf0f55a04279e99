"""The Django admin opens only for staff whose session passed the second factor (a TOTP
code), and only through the console's sign-in: its own login page signs nobody in, a
password-only session reaches no admin page, the console's lock-out holds for it too."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from alerts.console.permissions import Role
from alerts.models import AuditEntry
from registrations.models import Citizen
from tests.console.conftest import TEST_PASSWORD, current_code, make_staff, sign_in, wrong_code
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CONSOLE_LOGIN = reverse("console:login")
OTP_VERIFY = reverse("console:otp-verify")
OTP_ENROL = reverse("console:otp-enrol")
ADMIN_LOGIN = reverse("admin:login")
CITIZENS = "/admin/registrations/citizen/"
CONTACT = "farid.kabuli@example.org"


@pytest.fixture
def citizen():  # type: ignore[no-untyped-def]
    return Citizen.objects.create(full_name="Farid Kabuli", email=CONTACT, consent_at=timezone.now())


@pytest.fixture
def superuser(db):  # type: ignore[no-untyped-def]
    """An administrator who is also a Django superuser (the demo's ``admin``)."""
    user = make_staff(Role.ADMINISTRATOR, username="ada.admin")
    user.is_superuser = True
    user.save(update_fields=["is_superuser"])
    return user


def admin_pages(citizen: Citizen) -> list[str]:
    """Every kind of admin address: index, app, list, record, add, history, password change,
    the view-on-site shortcut, jsi18n, autocomplete and the catch-all."""
    from django.contrib.contenttypes.models import ContentType

    user_type = ContentType.objects.get_by_natural_key("auth", "user").pk
    return [
        "/admin/",
        "/admin/registrations/",
        CITIZENS,
        f"{CITIZENS}?q=Farid",
        f"{CITIZENS}{citizen.pk}/change/",
        f"{CITIZENS}{citizen.pk}/history/",
        "/admin/auth/user/add/",
        "/admin/password_change/",
        "/admin/password_change/done/",
        f"/admin/r/{user_type}/1/",
        "/admin/jsi18n/",
        "/admin/autocomplete/?app_label=auth&model_name=user&field_name=groups",
        "/admin/no-such-page",
    ]


def follow_to_the_end(client: Client, path: str):  # type: ignore[no-untyped-def]
    response = client.get(path, follow=True)
    return response, [url for url, _status in response.redirect_chain]


def next_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["next"][0]


def post_login(  # type: ignore[no-untyped-def]
    client: Client, username: str, *, code: str = "", next_url: str = "/admin/", password: str = TEST_PASSWORD
):
    return client.post(CONSOLE_LOGIN, {"username": username, "password": password, "otp_token": code, "next": next_url})


# --- no session, or a password-only one --------------------------------------------------


def test_an_anonymous_visitor_is_sent_to_the_console_sign_in_with_the_page_to_come_back_to(citizen):
    response, chain = follow_to_the_end(Client(), f"{CITIZENS}?q=Farid")
    assert response.status_code == 200
    assert chain[-1].startswith(CONSOLE_LOGIN)
    assert next_of(chain[-1]) == f"{CITIZENS}?q=Farid"
    assert response.context["next"] == f"{CITIZENS}?q=Farid"
    assert CONTACT not in response.content.decode()


def test_the_admin_login_page_has_no_form_of_its_own():
    response = Client().get(ADMIN_LOGIN)
    assert response.status_code == 302
    assert response["Location"] == f"{CONSOLE_LOGIN}?next=%2Fadmin%2F"


def test_the_admin_login_refuses_a_next_on_another_site():
    response = Client().get(ADMIN_LOGIN, {"next": "https://evil.example/admin/"})
    assert next_of(response["Location"]) == "/admin/"


def test_a_password_posted_to_the_admin_login_signs_nobody_in(superuser):
    client = Client()
    response = client.post(ADMIN_LOGIN, {"username": superuser.username, "password": TEST_PASSWORD})
    assert response.status_code == 302
    assert response["Location"].startswith(CONSOLE_LOGIN)
    assert "_auth_user_id" not in client.session
    assert not AuditEntry.objects.filter(action="login").exists()


def test_a_password_only_session_reaches_no_admin_page(superuser, citizen):
    client = sign_in(Client(), superuser, verified=False)
    for path in admin_pages(citizen):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith(ADMIN_LOGIN), path
        assert next_of(response["Location"]) == path, path
        followed, chain = follow_to_the_end(client, path)
        assert chain[-1].startswith(OTP_VERIFY), path
        assert next_of(chain[-1]) == path, path
        assert CONTACT not in followed.content.decode()


def test_the_admin_login_sends_a_password_only_session_to_the_second_factor(superuser):
    response = sign_in(Client(), superuser, verified=False).get(ADMIN_LOGIN, {"next": CITIZENS})
    assert response.status_code == 302
    assert response["Location"] == f"{OTP_VERIFY}?next=%2Fadmin%2Fregistrations%2Fcitizen%2F"


def test_staff_without_an_authenticator_reach_no_admin_page_by_any_address(citizen):
    superuser_without_device = UserFactory(username="root", is_superuser=True)
    author = make_staff(Role.AUTHOR, device=False, username="amina.author")  # is_staff, as every console user
    for user in (superuser_without_device, author):
        client = sign_in(Client(), user, verified=False)
        for path in [*admin_pages(citizen), ADMIN_LOGIN, f"{ADMIN_LOGIN}?next={CITIZENS}"]:
            followed, chain = follow_to_the_end(client, path)
            assert chain[-1].startswith(OTP_ENROL), (user, path)
            assert CONTACT not in followed.content.decode()
        # Neither the admin's password change nor its sign-out is open to them.
        assert client.post("/admin/password_change/", {"old_password": TEST_PASSWORD})["Location"].startswith(
            ADMIN_LOGIN
        )
        assert client.post(reverse("admin:logout"))["Location"] == "/admin/"
        user.refresh_from_db()
        assert user.check_password(TEST_PASSWORD)


def test_a_verified_session_of_someone_who_is_not_staff_is_refused(citizen):
    approver = make_staff(Role.APPROVER, username="bilal.approver")
    approver.is_staff = False
    approver.save(update_fields=["is_staff"])
    client = sign_in(Client(), approver)
    assert client.get(CITIZENS)["Location"].startswith(ADMIN_LOGIN)
    assert client.get(ADMIN_LOGIN).status_code == 403
    assert client.get(reverse("console:situation")).status_code == 200  # the console is still theirs


# --- a verified session ------------------------------------------------------------------


def test_a_verified_administrator_opens_every_admin_page(superuser, citizen):
    client = sign_in(Client(), superuser)
    page = client.get(f"{CITIZENS}?q=Farid")
    assert page.status_code == 200
    assert "Farid Kabuli" in page.content.decode()
    for path in ("/admin/", f"{CITIZENS}{citizen.pk}/change/", "/admin/password_change/", "/admin/jsi18n/"):
        assert client.get(path).status_code == 200, path
    response = client.get(ADMIN_LOGIN, {"next": CITIZENS})
    assert response.status_code == 302
    assert response["Location"] == CITIZENS


def test_an_administrator_signs_in_through_the_console_with_a_code_and_lands_on_the_admin_page(superuser, citizen):
    client = Client()
    response, chain = follow_to_the_end(client, CITIZENS)
    assert chain[-1].startswith(CONSOLE_LOGIN)

    # The password alone is not enough.
    refused = post_login(client, superuser.username, next_url=CITIZENS)
    assert refused.status_code == 200
    assert "six-digit code" in refused.content.decode()

    device = TOTPDevice.objects.get(user=superuser)
    response = post_login(client, superuser.username, code=current_code(device), next_url=CITIZENS)
    assert response.status_code == 302
    assert response["Location"] == CITIZENS
    assert "Farid Kabuli" in client.get(CITIZENS).content.decode()
    assert AuditEntry.objects.get(action="login", actor=superuser).after == {"two_factor": True}


def test_a_password_only_session_passes_the_code_and_returns_to_the_admin_page(superuser, citizen):
    client = sign_in(Client(), superuser, verified=False)
    device = TOTPDevice.objects.get(user=superuser)
    response = client.post(f"{OTP_VERIFY}?next={CITIZENS}", {"otp_token": current_code(device)})
    assert response["Location"] == CITIZENS
    assert client.get(CITIZENS).status_code == 200


def test_staff_without_a_console_role_sign_in_at_the_console_for_the_admin(db):
    """A superuser made with ``createsuperuser`` (no console role) has no sign-in but the
    console's: with a code they land on the admin, not on a console page they may not see."""
    root = UserFactory(username="root", is_superuser=True)
    device = TOTPDevice.objects.create(user=root, name="console", confirmed=True)
    client = Client()
    response = client.post(
        CONSOLE_LOGIN, {"username": root.username, "password": TEST_PASSWORD, "otp_token": current_code(device)}
    )
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_staff_without_an_authenticator_enrol_through_the_console_and_then_reach_the_admin(db):
    root = UserFactory(username="root", is_superuser=True)
    client = Client()
    response = post_login(client, root.username)
    assert response["Location"] == "/admin/"
    _page, chain = follow_to_the_end(client, "/admin/")
    assert chain[-1].startswith(OTP_ENROL)
    client.get(chain[-1])
    device = TOTPDevice.objects.get(user=root, confirmed=False)
    response = client.post(f"{OTP_ENROL}?next=/admin/", {"otp_token": current_code(device)})
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_deployment_asks_staff_without_an_authenticator_for_a_set_up_code_first(settings, db):
    settings.OTP_ENROLMENT_NEEDS_SETUP_CODE = True
    root = UserFactory(username="root", is_superuser=True)
    client = sign_in(Client(), root, verified=False)
    page, chain = follow_to_the_end(client, CITIZENS)
    assert chain[-1].startswith(OTP_ENROL)
    assert "otpauth://" not in page.content.decode()
    assert 'name="setup_code"' in page.content.decode()


def test_someone_without_staff_status_or_a_console_role_still_cannot_sign_in(db):
    user = UserFactory(is_staff=False)
    client = Client()
    response = post_login(client, user.username)
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_signing_out_of_the_admin_is_the_console_s_sign_out(superuser):
    client = sign_in(Client(), superuser)
    assert client.get(reverse("admin:logout")).status_code == 405
    response = client.post(reverse("admin:logout"))
    assert response.status_code == 302
    assert response["Location"] == CONSOLE_LOGIN
    assert AuditEntry.objects.filter(action="logout", actor=superuser).exists()
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/")["Location"].startswith(ADMIN_LOGIN)


# --- lock-out ------------------------------------------------------------------------------


def test_wrong_passwords_lock_the_admin_out_too(superuser):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        post_login(client, superuser.username, password="not the password at all")
    device = TOTPDevice.objects.get(user=superuser)
    response = post_login(client, superuser.username, code=current_code(device), next_url=CITIZENS)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert client.get(CITIZENS)["Location"].startswith(ADMIN_LOGIN)


def test_wrong_codes_lock_the_admin_out_too(superuser):
    device = TOTPDevice.objects.get(user=superuser)
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        post_login(client, superuser.username, code=wrong_code(device), next_url=CITIZENS)
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0, throttling_failure_timestamp=None)
    assert post_login(client, superuser.username, code=current_code(device), next_url=CITIZENS).status_code == 429
    assert client.get(CITIZENS)["Location"].startswith(ADMIN_LOGIN)
