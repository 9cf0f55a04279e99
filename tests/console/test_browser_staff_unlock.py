"""In a real browser, in a crisis: an approver who mistyped their password five times is
locked out; an administrator sees it on the Staff page, unlocks them, and they sign in."""

from __future__ import annotations

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from alerts.console.permissions import Role
from alerts.models import AuditEntry
from tests.console.test_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_an_administrator_unlocks_a_locked_out_approver(live_server, browser, desktop_page, settings):  # type: ignore[no-untyped-def]
    from tests.console.conftest import make_staff
    from tests.fixtures.browser import save_screenshot

    approver = make_staff(Role.APPROVER, username="nadia.approver")
    administrator = make_staff(Role.ADMINISTRATOR, username="dana.admin")

    locked = browser.new_page()  # the approver's own browser
    for _ in range(settings.AXES_FAILURE_LIMIT):
        locked.goto(f"{live_server.url}/console/login/")
        locked.fill("#id_username", approver.username)
        locked.fill("#id_password", "not the password at all")
        locked.click("button[type=submit]")
        locked.wait_for_load_state()

    page = desktop_page
    sign_in(page, live_server.url, administrator, TOTPDevice.objects.get(user=administrator))
    page.goto(f"{live_server.url}/console/staff/")
    row = page.locator("tr", has_text=approver.username)
    assert "Locked out" in row.inner_text()
    save_screenshot(page, "console-13-staff-locked-out")
    with page.expect_navigation():
        row.get_by_role("button", name="Unlock").click()
    assert "not locked out" in page.locator("tr", has_text=approver.username).inner_text()
    assert AuditEntry.objects.filter(action="unlock_staff", actor=administrator).count() == 1

    sign_in(locked, live_server.url, approver, TOTPDevice.objects.get(user=approver))
    assert "/console/login" not in locked.url
    locked.close()
