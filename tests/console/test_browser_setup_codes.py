"""In a real browser: an administrator issues a set-up code; the new approver needs it
before the authenticator's secret is shown, then sets up and reaches the console."""

from __future__ import annotations

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from alerts.console.permissions import Role
from tests.console.test_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_an_approver_sets_up_an_authenticator_with_a_code_from_an_administrator(live_server, desktop_page, settings):  # type: ignore[no-untyped-def]
    from tests.console.conftest import current_code, make_staff
    from tests.fixtures.browser import save_screenshot

    settings.OTP_ENROLMENT_NEEDS_SETUP_CODE = True
    admin = make_staff(Role.ADMINISTRATOR, username="ada.admin")
    approver = make_staff(Role.APPROVER, device=False, username="james.approver")
    page = desktop_page
    sign_in(page, live_server.url, admin, TOTPDevice.objects.get(user=admin))
    page.goto(f"{live_server.url}/console/staff/")
    page.click(f"form[action='/console/staff/{approver.pk}/'] button[value=issue_setup_code]")
    code = page.inner_text(".setup-code code")
    assert len(code) == 19
    save_screenshot(page, "console-8-setup-code-issued-desktop")
    page.context.clear_cookies()  # the administrator is done; the approver signs in

    sign_in(page, live_server.url, approver, None)
    assert "/console/two-factor/enrol/" in page.url
    assert "otpauth://" not in page.content()
    save_screenshot(page, "console-9-setup-code-asked-desktop")
    page.fill("#id_setup_code", code)
    page.click("form.narrow button[type=submit]")
    page.wait_for_selector("#id_otp_token")
    device = TOTPDevice.objects.get(user=approver, confirmed=False)
    page.fill("#id_otp_token", current_code(device))
    page.click("form.narrow button[type=submit]")
    page.wait_for_url(f"{live_server.url}/console/")
    device.refresh_from_db()
    assert device.confirmed
