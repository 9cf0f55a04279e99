"""In a real browser: the progress page says why messages were not sent, in words."""

from __future__ import annotations

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from alerts.console.permissions import Role
from alerts.models import Alert, Delivery
from tests.console.test_browser import sign_in
from tests.factories import AlertFactory, DeliveryFactory

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_staff_read_why_messages_were_not_sent(live_server, desktop_page):  # type: ignore[no-untyped-def]
    from tests.console.conftest import make_staff
    from tests.fixtures.browser import save_screenshot

    approver = make_staff(Role.APPROVER, username="omar.approver")
    alert = AlertFactory(created_by=approver, is_test=False, state=Alert.State.SENT, title="Leave Jowzjan now")
    DeliveryFactory.create_batch(3, alert=alert, channel="sms", state=Delivery.State.FAILED, error_code="21211")
    DeliveryFactory(alert=alert, channel="email", state=Delivery.State.FAILED, error_code="5.1.1")
    DeliveryFactory.create_batch(4, alert=alert, channel="sms", delivered=True)
    page = desktop_page
    sign_in(page, live_server.url, approver, TOTPDevice.objects.get(user=approver))
    page.goto(f"{live_server.url}/console/alerts/{alert.pk}/progress/")
    table = page.get_by_role("table", name="Not sent or not delivered, by reason")
    assert table.is_visible()
    rows = table.locator("tbody tr").all_inner_texts()
    assert [row.split("\t") for row in rows] == [
        ["SMS", "Invalid phone number", "3"],
        ["EMAIL", "Bounced by the mail server (5.1.1)", "1"],
    ]
    save_screenshot(page, "console-11-not-sent-reasons-desktop")
