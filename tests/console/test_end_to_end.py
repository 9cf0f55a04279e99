"""The whole console flow in a real browser, with a real worker sending to the provider stub.

An author raises Kabul to level 4 and edits the drafted alert; an approver signs in with a
TOTP code and approves it; the progress page reaches 100% while a Celery worker sends
through the Twilio and SendGrid SDKs to the loopback stub; citizens answer by SMS (signed
inbound webhooks) and the accountability board counts their answers.
"""

from __future__ import annotations

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from alerts.console.permissions import Role
from alerts.models import Alert, AlertTemplate, CheckIn, Delivery
from tests.console.conftest import TEST_PASSWORD, current_code, make_staff
from tests.factories import AreaFactory, CitizenFactory, PresenceFactory
from tests.fixtures.browser import save_screenshot
from tests.fixtures.worker import wait_until
from tests.pipeline.e2e import accepted_counts, worker_env
from tests.webhooks.helpers import TWILIO_TOKEN, sms_to_live_server

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

PEOPLE = 12


def sign_in(page, base_url: str, user, device=None) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base_url}/console/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", TEST_PASSWORD)
    if device is not None:
        page.fill("#id_otp_token", current_code(device))
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base_url}/console/")


def test_an_alert_goes_from_level_change_to_accountability_board(
    live_server, desktop_page, celery_workers, provider_stub, settings
):  # type: ignore[no-untyped-def]
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN
    AreaFactory(country="AF", region="", name="Afghanistan", level=3)
    kabul = AreaFactory(country="AF", region="AF-KAB", name="Kabul", level=None)
    AlertTemplate.objects.create(
        level=4,
        language="en",
        sms_text="{area}: level {level}, {level_name}. Leave now. {checkin_words}",
        email_subject="{area}: leave now",
        email_body="Dear {name},\n{area} is at level {level}. Leave now.\nCheck in: {checkin_link}",
    )
    citizens = []
    for n in range(PEOPLE):
        citizen = CitizenFactory(full_name=f"Citizen {n:02d}")
        PresenceFactory(citizen=citizen)
        citizens.append(citizen)
    author = make_staff(Role.AUTHOR, device=False, username="amina.author")
    approver = make_staff(Role.APPROVER, username="bilal.approver")
    env, _sender = worker_env(provider_stub, SMS_RATE_PER_SECOND=50)
    celery_workers.start("console-e2e", env=env, beat=True)
    page = desktop_page

    # 1. The author raises Kabul to level 4 and sees the drafted alert at once.
    sign_in(page, live_server.url, author)
    page.goto(f"{live_server.url}/console/areas/{kabul.pk}/board/")
    page.click("text=Change the level")
    page.check("input[name=level][value='4']")
    page.fill("#id_reason", "Fighting near the airport; commercial flights suspended.")
    page.click("main button[type=submit]")
    page.wait_for_url("**/console/alerts/*/")
    alert = Alert.objects.get(advisory_level=4)
    assert page.locator(".mode-band").first.inner_text().startswith("LIVE")
    assert "Kabul: level 4, Do not travel. Leave now." in page.content()

    # 2. She edits the drafted words and submits it again.
    sms = page.locator("textarea[name='text-en-sms_text']")
    sms.fill(sms.input_value().replace("Leave now.", "Leave now by the northern road."))
    save_screenshot(page, "console-e2e-1-drafted-alert-desktop")
    page.click("button[name=action][value=submit]")
    page.wait_for_url(f"**/console/alerts/{alert.pk}/")
    assert "Submitted for approval" in page.content()
    alert.refresh_from_db()
    assert alert.state == Alert.State.AWAITING_APPROVAL
    assert "northern road" in alert.texts.get(language="en").sms_text
    page.click("text=Sign out")
    page.wait_for_url("**/console/login/")

    # 3. The approver signs in with a TOTP code and approves, naming the audience.
    sign_in(page, live_server.url, approver, TOTPDevice.objects.get(user=approver))
    page.click("text=Approvals")
    page.click(f"text={alert.title}")
    confirm = page.inner_text(".confirm-live")
    assert f"Send LIVE to {PEOPLE} people" in confirm and "Kabul" in confirm
    save_screenshot(page, "console-e2e-2-approve-live-desktop")
    page.check("#id_confirm")
    page.click(".approve button[type=submit].danger")
    page.wait_for_url(f"**/console/alerts/{alert.pk}/progress/")

    # 4. Progress climbs to 100% without a reload while the worker sends to the stub.
    # A locator assertion, not wait_for_function: the page's CSP refuses evaluated strings.
    from playwright.sync_api import expect

    expect(page.locator("#percent")).to_have_text("100", timeout=90_000)
    save_screenshot(page, "console-e2e-3-progress-done-desktop")
    wait_until(
        lambda: Alert.objects.get(pk=alert.pk).state == Alert.State.SENT, timeout=30, what="the alert to be sent"
    )
    assert set(accepted_counts(provider_stub, "sms")) == {c.phone for c in citizens}
    assert set(accepted_counts(provider_stub, "sms").values()) == {1}
    assert Delivery.objects.filter(alert=alert, state__in=Delivery.FINAL_STATES).count() == 2 * PEOPLE

    # 5. Citizens answer by SMS; the board counts the latest answer of each.
    for n, word in enumerate(["SAFE", "SAFE", "NEED", "LEFT", "SAFE"]):
        sms_to_live_server(live_server.url, citizens[n].phone, word, f"SM{'e2e'}{n:029d}")
    sms_to_live_server(live_server.url, citizens[4].phone, "NEED", "SM" + "f" * 32)  # changed their mind
    assert CheckIn.objects.count() == 6
    page.goto(f"{live_server.url}/console/areas/{kabul.pk}/board/")
    assert page.inner_text("#count-registered") == str(PEOPLE)
    assert page.inner_text("#count-safe") == "2"
    assert page.inner_text("#count-needs_assistance") == "2"
    assert page.inner_text("#count-departed") == "1"
    assert page.inner_text("#count-no_answer") == str(PEOPLE - 5)
    page.click(".tile-needs_assistance")
    page.wait_for_url("**list=needs_assistance**")
    assert citizens[4].phone in page.inner_text("table.people-list")
    save_screenshot(page, "console-e2e-4-board-after-answers-desktop")
