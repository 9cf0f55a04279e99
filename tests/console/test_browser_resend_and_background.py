"""In a real browser: an approver sends again what ended "outcome unknown" from the
progress page; a stopped send queue shows its banner on every console page, readable."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django_otp.plugins.otp_totp.models import TOTPDevice

from alerts.console.permissions import Role
from alerts.models import Alert, AuditEntry, Delivery
from embassy import health
from tests.console.test_browser import sign_in
from tests.console.test_browser_channel_pause import _contrast
from tests.factories import AlertFactory, DeliveryFactory

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_an_approver_sends_again_what_ended_outcome_unknown(live_server, desktop_page):  # type: ignore[no-untyped-def]
    from tests.console.conftest import make_staff
    from tests.fixtures.browser import save_screenshot

    author = make_staff(Role.AUTHOR, device=False, username="amina.author")
    approver = make_staff(Role.APPROVER, username="nadia.approver")
    alert = AlertFactory(created_by=author, live=True, state=Alert.State.SENT, title="Kabul: leave now")
    DeliveryFactory(alert=alert, sent=True)
    for _ in range(3):
        DeliveryFactory(alert=alert, channel="email", state=Delivery.State.FAILED, error_code="unknown")
    page = desktop_page
    sign_in(page, live_server.url, approver, TOTPDevice.objects.get(user=approver))
    page.goto(f"{live_server.url}/console/alerts/{alert.pk}/progress/")
    form = page.locator("#resend-unknown-form")
    assert "second copy" in form.inner_text()
    save_screenshot(page, "console-11-resend-outcome-unknown")
    with page.expect_navigation():  # the POST, then the redirect back to the progress page
        form.get_by_role("button", name="Send again to the 3 whose outcome is unknown").click()
    page.get_by_text("3 emails go again").wait_for()
    assert AuditEntry.objects.filter(action="resend_outcome_unknown", actor=approver).count() == 1
    # Queued again (and, with tasks run in-process, perhaps already sent to the outbox).
    assert not Delivery.objects.filter(alert=alert, error_code="unknown").exists()


def test_a_send_queue_without_workers_is_shown_on_every_page(live_server, desktop_page, settings):  # type: ignore[no-untyped-def]
    from tests.console.conftest import make_staff
    from tests.fixtures.browser import save_screenshot

    # The live server's process reads the test's cache (one process, its memory).
    cache.set(health.QUEUE_HEARTBEAT_KEY + settings.ALERT_SEND_QUEUES["sms"], time.time() - 900, timeout=None)
    health.forget_background()
    approver = make_staff(Role.APPROVER, username="nadia.approver")
    page = desktop_page
    sign_in(page, live_server.url, approver, TOTPDevice.objects.get(user=approver))
    for path in ("/console/", "/console/alerts/"):
        page.goto(f"{live_server.url}{path}")
        banner = page.locator(".background-problem[role=alert]")
        assert banner.count() == 1 and "SMS are not being sent." in banner.inner_text()
        behind = banner.evaluate("e => getComputedStyle(e).backgroundColor")
        for part in (banner, banner.locator("strong")):
            colour = part.evaluate("e => getComputedStyle(e).color")
            assert _contrast(colour, behind) >= 4.5, (colour, behind)  # readable inside the dark header
    save_screenshot(page, "console-12-sms-workers-stopped")
