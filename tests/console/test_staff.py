"""Administrators manage roles and authenticators; every change is audited."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from alerts.console.permissions import Role, roles_of
from alerts.models import AuditEntry
from tests.console.conftest import make_staff

pytestmark = pytest.mark.django_db


def test_an_administrator_gives_a_role_and_it_is_audited(administrator, signed_in):
    person = make_staff(Role.AUTHOR, device=False)
    client = signed_in(administrator)
    response = client.post(
        reverse("console:staff-update", args=[person.pk]), {"role-author": "on", "role-approver": "on"}
    )
    assert response.status_code == 302
    person.refresh_from_db()
    assert roles_of(type(person).objects.get(pk=person.pk)) == {Role.AUTHOR, Role.APPROVER}
    entry = AuditEntry.objects.get(action="set_roles", actor=administrator)
    assert entry.before == {"roles": ["author"]} and entry.after == {"roles": ["approver", "author"]}


def test_an_administrator_cannot_remove_their_own_administrator_role(administrator, signed_in):
    signed_in(administrator).post(reverse("console:staff-update", args=[administrator.pk]), {"role-author": "on"})
    assert Role.ADMINISTRATOR in roles_of(type(administrator).objects.get(pk=administrator.pk))


def test_resetting_an_authenticator_sends_the_person_back_to_enrolment(administrator, approver, signed_in):
    signed_in(administrator).post(reverse("console:staff-update", args=[approver.pk]), {"action": "reset_otp"})
    assert not TOTPDevice.objects.filter(user=approver).exists()
    assert AuditEntry.objects.filter(action="reset_otp", object_id=str(approver.pk)).exists()
    client = signed_in(approver, verified=False)
    assert client.get(reverse("console:situation"))["Location"].startswith(reverse("console:otp-enrol"))


def test_only_administrators_reach_the_staff_page(author_client, approver_client, administrator, signed_in):
    assert author_client.get(reverse("console:staff")).status_code == 403
    assert approver_client.get(reverse("console:staff")).status_code == 403
    page = signed_in(administrator).get(reverse("console:staff"))
    assert page.status_code == 200
    assert administrator.username in page.content.decode()


def test_an_administrator_without_two_factor_cannot_manage_staff(administrator, signed_in):
    person = make_staff(device=False)
    client = signed_in(administrator, verified=False)
    response = client.post(reverse("console:staff-update", args=[person.pk]), {"role-approver": "on"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("console:otp-verify"))
    assert roles_of(type(person).objects.get(pk=person.pk)) == set()
