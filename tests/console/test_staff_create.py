"""Administrators add staff accounts from the console; the new person enrols with the
set-up code shown once."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from alerts.console.permissions import Role, roles_of
from alerts.models import AuditEntry
from tests.console.conftest import make_staff, sign_in

pytestmark = pytest.mark.django_db

User = get_user_model()
CREATE = reverse("console:staff-create")
PASSWORD = "a long first password 2021"


def new_account(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "username": "farid.approver",
        "first_name": "Farid",
        "last_name": "Noori",
        "email": "farid@embassy.example",
        "roles": ["approver"],
        "password1": PASSWORD,
        "password2": PASSWORD,
    }
    data.update(changes)
    return data


def test_an_administrator_adds_an_approver_who_then_enrols_with_the_code_shown(administrator, signed_in, settings):
    settings.OTP_ENROLMENT_NEEDS_SETUP_CODE = True
    response = signed_in(administrator).post(CREATE, new_account())
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    code = response.context["code"]
    person = User.objects.get(username="farid.approver")
    assert person.is_active and not person.is_staff and person.get_full_name() == "Farid Noori"
    assert roles_of(person) == {Role.APPROVER}
    entry = AuditEntry.objects.get(action="create_staff", object_id=str(person.pk))
    assert entry.actor == administrator
    assert entry.after == {
        "username": "farid.approver",
        "name": "Farid Noori",
        "email": "farid@embassy.example",
        "roles": ["approver"],
    }
    assert PASSWORD not in str(entry.after)
    assert AuditEntry.objects.filter(action="issue_otp_setup_code", object_id=str(person.pk)).exists()

    client = Client()
    client.post(reverse("console:login"), {"username": "farid.approver", "password": PASSWORD})
    enrol = reverse("console:otp-enrol")
    assert client.get(reverse("console:situation"))["Location"].startswith(enrol)
    assert "otpauth://" not in client.get(enrol).content.decode()
    response = client.post(enrol, {"setup_code": code})
    assert response.status_code == 302
    assert "otpauth://totp/" in client.get(enrol).content.decode()
    assert AuditEntry.objects.filter(action="otp_setup_code_used", actor=person).exists()


def test_an_author_gets_no_set_up_code(administrator, signed_in):
    response = signed_in(administrator).post(CREATE, new_account(username="gul.author", roles=["author"]))
    assert response.status_code == 302 and response["Location"] == reverse("console:staff")
    person = User.objects.get(username="gul.author")
    assert roles_of(person) == {Role.AUTHOR}
    assert not AuditEntry.objects.filter(action="issue_otp_setup_code").exists()
    client = Client()
    client.post(reverse("console:login"), {"username": "gul.author", "password": PASSWORD})
    assert client.get(reverse("console:situation")).status_code == 200


@pytest.mark.parametrize(
    "changes",
    [
        {"username": "DANA.ADMIN"},  # taken, whatever the case
        {"username": "no spaces allowed"},
        {"roles": []},
        {"password2": "something else entirely 2021"},
        {"password1": "short", "password2": "short"},
        {"email": "not an address"},
    ],
)
def test_bad_input_is_refused_and_nothing_is_created(changes, administrator, signed_in):
    before = User.objects.count()
    response = signed_in(administrator).post(CREATE, new_account(**changes))
    assert response.status_code == 200
    assert response.context["form"].errors
    assert User.objects.count() == before
    assert not AuditEntry.objects.filter(action="create_staff").exists()


def test_authors_and_approvers_cannot_add_staff(author_client, approver_client):
    for client in (author_client, approver_client):
        assert client.get(CREATE).status_code == 403
        assert client.post(CREATE, new_account()).status_code == 403
    assert not User.objects.filter(username="farid.approver").exists()


def test_an_administrator_without_the_second_factor_is_sent_to_it(administrator, signed_in):
    response = signed_in(administrator, verified=False).post(CREATE, new_account())
    assert response.status_code == 302 and response["Location"].startswith(reverse("console:otp-verify"))
    assert not User.objects.filter(username="farid.approver").exists()


def test_creating_needs_a_csrf_token(administrator):
    client = sign_in(Client(enforce_csrf_checks=True), administrator)
    assert client.post(CREATE, new_account()).status_code == 403
    assert not User.objects.filter(username="farid.approver").exists()


def test_the_staff_page_links_to_the_form(administrator, signed_in):
    make_staff(Role.AUTHOR, device=False)
    assert CREATE in signed_in(administrator).get(reverse("console:staff")).content.decode()
