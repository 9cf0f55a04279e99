"""Administrators deactivate and reactivate accounts and lift lock-outs from the Staff
page; every change is audited, and nobody else may make it."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from alerts.console.permissions import Role
from alerts.models import AuditEntry
from alerts.services import staff as staff_accounts
from tests.console.conftest import TEST_PASSWORD, current_code, make_staff, sign_in

pytestmark = pytest.mark.django_db

User = get_user_model()
STAFF = reverse("console:staff")
SITUATION = reverse("console:situation")


def deactivate(client: Client, person):  # type: ignore[no-untyped-def]
    return client.post(reverse("console:staff-deactivate", args=[person.pk]))


def is_active(person) -> bool:  # type: ignore[no-untyped-def]
    return User.objects.get(pk=person.pk).is_active


def lock_out(username: str) -> Client:
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("console:login"), {"username": username, "password": "not the password at all"})
    return client


# --- Deactivating and reactivating -------------------------------------------------


def test_a_deactivated_person_s_open_session_is_signed_out_at_its_next_request(administrator, approver, signed_in):
    theirs = signed_in(approver)
    assert theirs.get(SITUATION).status_code == 200
    response = deactivate(signed_in(administrator), approver)
    assert response.status_code == 302
    assert not is_active(approver)
    after = theirs.get(SITUATION)
    assert after.status_code == 302 and after["Location"].startswith(reverse("console:login"))
    entry = AuditEntry.objects.get(action="deactivate_staff", object_id=str(approver.pk))
    assert entry.actor == administrator and entry.object_repr == approver.username
    assert entry.before == {"is_active": True} and entry.after == {"is_active": False, "sessions_ended": 1}


def test_a_deactivated_staff_member_s_admin_session_is_refused_too(administrator, signed_in):
    other_admin = make_staff(Role.ADMINISTRATOR, username="erik.admin")
    theirs = signed_in(other_admin)
    assert theirs.get(reverse("admin:index")).status_code == 200
    deactivate(signed_in(administrator), other_admin)
    response = theirs.get(reverse("admin:index"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_session_does_not_come_back_when_the_account_is_reactivated(administrator, approver, signed_in):
    theirs = signed_in(approver)
    admin_client = signed_in(administrator)
    deactivate(admin_client, approver)
    admin_client.post(reverse("console:staff-reactivate", args=[approver.pk]))
    assert is_active(approver)
    assert theirs.get(SITUATION).status_code == 302
    entry = AuditEntry.objects.get(action="reactivate_staff", object_id=str(approver.pk))
    assert entry.actor == administrator and entry.after == {"is_active": True}


def test_a_deactivated_person_cannot_sign_in(administrator, author, signed_in):
    deactivate(signed_in(administrator), author)
    client = Client()
    client.post(reverse("console:login"), {"username": author.username, "password": TEST_PASSWORD})
    assert "_auth_user_id" not in client.session


def test_a_reactivated_person_signs_in_again(administrator, author, signed_in):
    admin_client = signed_in(administrator)
    deactivate(admin_client, author)
    admin_client.post(reverse("console:staff-reactivate", args=[author.pk]))
    client = Client()
    client.post(reverse("console:login"), {"username": author.username, "password": TEST_PASSWORD})
    assert client.get(SITUATION).status_code == 200


def test_an_administrator_cannot_deactivate_themselves(administrator, signed_in):
    client = signed_in(administrator)
    response = deactivate(client, administrator)
    assert response.status_code == 302
    assert is_active(administrator)
    assert not AuditEntry.objects.filter(action="deactivate_staff").exists()
    assert "your own account" in client.get(STAFF).content.decode()


def test_the_last_active_administrator_cannot_be_deactivated(administrator):
    # Only reachable when the acting administrator is no longer one of them (a race, or
    # a session read before their own deactivation): the service refuses it.
    other = make_staff(Role.ADMINISTRATOR, username="erik.admin")
    User.objects.filter(pk=other.pk).update(is_active=False)
    with pytest.raises(staff_accounts.StaffRuleBroken):
        staff_accounts.deactivate_staff(other, administrator)
    assert is_active(administrator)


def test_the_only_other_administrator_may_be_deactivated_while_one_remains(administrator, signed_in):
    other = make_staff(Role.ADMINISTRATOR, username="erik.admin")
    deactivate(signed_in(administrator), other)
    assert not is_active(other)
    assert list(staff_accounts.active_administrators()) == [administrator]


def test_deactivated_accounts_are_listed_apart_with_a_reactivate_button(administrator, author, signed_in):
    client = signed_in(administrator)
    deactivate(client, author)
    body = client.get(STAFF).content.decode()
    apart = body[body.index("Deactivated accounts") :]
    assert author.username in apart
    assert reverse("console:staff-reactivate", args=[author.pk]) in apart
    assert reverse("console:staff-deactivate", args=[author.pk]) not in body


@pytest.mark.parametrize("action", ["staff-deactivate", "staff-reactivate", "staff-unlock"])
def test_authors_and_approvers_are_refused(action, author_client, approver_client, administrator):
    person = make_staff(Role.AUTHOR, device=False)
    for client in (author_client, approver_client):
        assert client.post(reverse(f"console:{action}", args=[person.pk])).status_code == 403
    assert is_active(person)
    assert not AuditEntry.objects.filter(object_id=str(person.pk)).exists()


@pytest.mark.parametrize("action", ["staff-deactivate", "staff-reactivate", "staff-unlock"])
def test_an_administrator_without_the_second_factor_is_sent_to_it(action, administrator, signed_in):
    person = make_staff(Role.AUTHOR, device=False)
    response = signed_in(administrator, verified=False).post(reverse(f"console:{action}", args=[person.pk]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("console:otp-verify"))
    assert is_active(person)
    assert not AuditEntry.objects.filter(object_id=str(person.pk)).exists()


@pytest.mark.parametrize("action", ["staff-deactivate", "staff-reactivate", "staff-unlock"])
def test_the_actions_need_a_post_with_a_csrf_token(action, administrator):
    person = make_staff(Role.AUTHOR, device=False)
    client = sign_in(Client(enforce_csrf_checks=True), administrator)
    assert client.post(reverse(f"console:{action}", args=[person.pk])).status_code == 403
    assert client.get(reverse(f"console:{action}", args=[person.pk])).status_code == 405
    assert is_active(person)


# --- Lock-outs -----------------------------------------------------------------------


def test_the_staff_page_shows_who_is_locked_out_and_unlocking_lets_them_sign_in(administrator, approver, signed_in):
    locked = lock_out(approver.username)
    client = signed_in(administrator)
    body = client.get(STAFF).content.decode()
    assert "Locked out" in body and reverse("console:staff-unlock", args=[approver.pk]) in body
    response = client.post(reverse("console:staff-unlock", args=[approver.pk]))
    assert response.status_code == 302
    assert staff_accounts.lock_outs() == {}
    entry = AuditEntry.objects.get(action="unlock_staff", object_id=str(approver.pk))
    assert entry.actor == administrator
    assert entry.before == {"locked_out_from": ["127.0.0.1"]} and entry.after == {"attempts_cleared": 1}
    from django_otp.plugins.otp_totp.models import TOTPDevice

    code = current_code(TOTPDevice.objects.get(user=approver))
    response = locked.post(
        reverse("console:login"), {"username": approver.username, "password": TEST_PASSWORD, "otp_token": code}
    )
    assert response.status_code == 302
    assert locked.get(SITUATION).status_code == 200


def test_failures_under_the_limit_are_not_a_lock_out(approver):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post(reverse("console:login"), {"username": approver.username, "password": "wrong"})
    assert staff_accounts.lock_outs() == {}


def test_a_lock_out_past_its_cool_off_is_not_shown(approver):
    from axes.helpers import get_cool_off
    from axes.models import AccessAttempt
    from django.utils import timezone

    lock_out(approver.username)
    assert approver.username in staff_accounts.lock_outs()
    AccessAttempt.objects.update(attempt_time=timezone.now() - get_cool_off() - timezone.timedelta(seconds=1))
    assert staff_accounts.lock_outs() == {}


def test_no_one_is_shown_locked_out_when_no_one_is(administrator, signed_in):
    body = signed_in(administrator).get(STAFF).content.decode()
    assert "Locked out" not in body
