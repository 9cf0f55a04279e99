"""Every kind of page carries the strict Content-Security-Policy, the Permissions-Policy
and Cross-Origin-Opener-Policy, and its HTML needs nothing the policy forbids (no inline
<script>, <style>, style="" or on...="" handler): citizens' pages, the links sent in
alerts, the console and the Django admin."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from alerts.console.permissions import Role
from alerts.services import links
from registrations.services import manage_url
from tests.console.conftest import make_staff, sign_in
from tests.factories import AlertFactory, AlertTextFactory, AreaFactory, CitizenFactory, PresenceFactory

pytestmark = pytest.mark.django_db

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}
FEATURES_NO_PAGE_USES = ("camera", "microphone", "geolocation", "payment", "usb")

# What a strict policy refuses to run or apply in a page.
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=\"", re.I)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+=\"", re.I)
JAVASCRIPT_URL = re.compile(r"(href|action|src)=\"\s*javascript:", re.I)


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def policy_of(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    header = response.headers.get("Content-Security-Policy", "")
    directives = [part.strip().split(" ", 1) for part in header.split(";") if part.strip()]
    return {name: value for name, value in directives}


def assert_strict_headers(response, where: str) -> None:  # type: ignore[no-untyped-def]
    assert policy_of(response) == POLICY, where
    assert "Content-Security-Policy-Report-Only" not in response.headers, where
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin", where
    allowed = dict(item.strip().split("=", 1) for item in response.headers["Permissions-Policy"].split(","))
    for feature in FEATURES_NO_PAGE_USES:
        assert allowed[feature] == "()", (where, feature)
    assert response.headers["X-Frame-Options"] == "DENY", where


def assert_nothing_inline(response, where: str) -> None:  # type: ignore[no-untyped-def]
    html = response.content.decode()
    for pattern in (INLINE_SCRIPT, INLINE_STYLE, INLINE_HANDLER, JAVASCRIPT_URL):
        found = pattern.search(html)
        assert found is None, f"{where}: {found.group(0) if found else ''}"


@pytest.fixture
def citizen():  # type: ignore[no-untyped-def]
    person = CitizenFactory(full_name="Sara Ahmadi")
    PresenceFactory(citizen=person)
    PresenceFactory(citizen=person, country="PK", region="PK-IS", city="Islamabad", lives_here=False)
    return person


@pytest.fixture
def alert(citizen):  # type: ignore[no-untyped-def]
    area = AreaFactory(country="AF", level=4)
    made = AlertFactory(title="Leave Kabul")
    made.areas.set([area])
    AlertTextFactory(alert=made)
    return made


def citizen_pages(citizen, alert) -> list[str]:  # type: ignore[no-untyped-def]
    manage = path_of(manage_url(citizen))
    presence = citizen.presences.first()
    return [
        "/",
        "/?country=AF",
        "/manage/",
        manage,
        f"{manage}trips/new/",
        f"{manage}trips/{presence.pk}/",
        f"{manage}delete/",
        path_of(links.check_in_url(citizen, alert)),
        path_of(links.check_in_url(citizen, alert, "safe")),
        path_of(links.unsubscribe_url(citizen)),
    ]


def test_citizens_pages_carry_the_policy_and_need_nothing_inline(citizen, alert):
    client = Client()
    for path in citizen_pages(citizen, alert):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_strict_headers(response, path)
        assert_nothing_inline(response, path)


def test_citizens_error_pages_carry_the_policy_and_need_nothing_inline(db):
    client = Client()
    for where, response, status in (
        ("registration errors", client.post("/", {"contact-full_name": ""}), 400),
        ("a link we did not sign", client.get("/manage/not-a-link/"), 404),
        ("a check-in link we did not sign", client.get(path_of(links.check_in_url(CitizenFactory()))[:-4] + "/"), 404),
    ):
        assert response.status_code == status, where
        assert_strict_headers(response, where)
        assert_nothing_inline(response, where)


def test_console_pages_carry_the_policy_and_need_nothing_inline(citizen, alert):
    approver = make_staff(Role.APPROVER, Role.AUTHOR, Role.ADMINISTRATOR, username="bilal.approver")
    login = Client().get(reverse("console:login"))
    assert_strict_headers(login, "console login")
    assert_nothing_inline(login, "console login")
    client = sign_in(Client(), approver)
    area = alert.areas.get()
    for path in (
        reverse("console:situation"),
        reverse("console:board", args=[area.pk]),
        reverse("console:history"),
        reverse("console:alert-new"),
        reverse("console:alert", args=[alert.pk]),
        reverse("console:alert-progress", args=[alert.pk]),
        reverse("console:approvals"),
        reverse("console:template-edit", args=[4, "en"]),
        reverse("console:area-names", args=[area.pk]),
        reverse("console:inbox"),
        reverse("console:audit"),
        reverse("console:staff"),
        reverse("console:templates"),
        reverse("console:areas"),
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_strict_headers(response, path)
        assert_nothing_inline(response, path)


def test_admin_pages_carry_the_policy_and_need_nothing_inline(admin_client, admin_user, citizen, alert):
    for path in (
        "/admin/",
        "/admin/registrations/citizen/",
        f"/admin/registrations/citizen/{citizen.pk}/change/",
        "/admin/alerts/alert/",
        f"/admin/alerts/alert/{alert.pk}/change/",
        "/admin/auth/user/",
        f"/admin/auth/user/{admin_user.pk}/change/",
        "/admin/auth/user/add/",
        "/admin/auth/group/add/",
        "/admin/password_change/",
    ):
        response = admin_client.get(path)
        assert response.status_code == 200, path
        assert_strict_headers(response, path)
        assert_nothing_inline(response, path)


def test_redirects_errors_and_the_health_check_carry_the_policy_too(db):
    client = Client()
    for path, status in (("/admin/", 302), ("/console/", 302), ("/no-such-page/", 404), ("/healthz", None)):
        response = client.get(path)
        if status is not None:
            assert response.status_code == status, path
        assert_strict_headers(response, path)
