"""In a real browser: a channel paused by its provider is shown at the top of every
console page, with what happened and what to check, and is gone once it resumes."""

from __future__ import annotations

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from alerts.channels.base import ChannelError
from alerts.console.permissions import Role
from alerts.services import pauses
from tests.console.test_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _contrast(foreground: str, background: str) -> float:
    """WCAG contrast ratio of two computed CSS colours ("rgb(r, g, b)")."""

    def luminance(css: str) -> float:
        channels = [int(part) / 255 for part in css[css.index("(") + 1 : css.index(")")].split(",")[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_staff_see_that_sms_is_paused_and_what_to_check(live_server, desktop_page):  # type: ignore[no-untyped-def]
    from tests.console.conftest import make_staff
    from tests.fixtures.browser import save_screenshot

    pauses.pause_channel(
        "sms", ChannelError("twilio 20003: credentials refused", permanent=False, code="20003", account=True)
    )
    approver = make_staff(Role.APPROVER, username="nadia.approver")
    page = desktop_page
    sign_in(page, live_server.url, approver, TOTPDevice.objects.get(user=approver))
    for path in ("/console/", "/console/alerts/"):
        page.goto(f"{live_server.url}{path}")
        banner = page.locator(".channel-pause[role=alert]")
        assert banner.count() == 1 and banner.is_visible()
        text = banner.inner_text()
        assert "SMS sending is paused." in text and "20003" in text and "TWILIO_AUTH_TOKEN" in text
        assert "No message is lost" in text
        for part in (banner, banner.locator("strong")):
            colour = part.evaluate("e => getComputedStyle(e).color")
            behind = banner.evaluate("e => getComputedStyle(e).backgroundColor")
            assert _contrast(colour, behind) >= 4.5, (colour, behind)  # readable inside the dark header
    save_screenshot(page, "console-10-sms-paused-desktop")

    pauses.resume_channel("sms")
    page.goto(f"{live_server.url}/console/")
    assert page.locator(".channel-pause").count() == 0
