"""In a real browser: the Django admin sends an administrator to the console's sign-in,
refuses the password alone, opens the page asked for once the code is given, and signs
out through the console."""

from __future__ import annotations

import pytest
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from alerts.console.permissions import Role
from registrations.models import Citizen
from tests.console.conftest import TEST_PASSWORD, current_code, make_staff

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_an_administrator_reaches_the_admin_only_with_the_code(live_server, desktop_page):  # type: ignore[no-untyped-def]
    from tests.fixtures.browser import save_screenshot

    Citizen.objects.create(full_name="Farid Kabuli", email="farid.kabuli@example.org", consent_at=timezone.now())
    admin = make_staff(Role.ADMINISTRATOR, username="ada.admin")
    admin.is_superuser = True
    admin.save(update_fields=["is_superuser"])
    device = TOTPDevice.objects.get(user=admin)
    page = desktop_page
    citizens = f"{live_server.url}/admin/registrations/citizen/"

    page.goto(citizens)
    page.wait_for_url(f"{live_server.url}/console/login/?next=%2Fadmin%2Fregistrations%2Fcitizen%2F")
    page.fill("#id_username", admin.username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("button[type=submit]")
    assert "six-digit code" in page.content()
    assert "/console/login/" in page.url

    page.fill("#id_password", TEST_PASSWORD)
    page.fill("#id_otp_token", current_code(device))
    page.click("button[type=submit]")
    page.wait_for_url(citizens)
    assert "Farid Kabuli" in page.inner_text("#result_list")
    save_screenshot(page, "admin-1-citizens-after-two-factor-desktop")

    page.click("#logout-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/console/login/")
    page.goto(f"{live_server.url}/admin/")
    page.wait_for_url(f"{live_server.url}/console/login/?next=%2Fadmin%2F")
