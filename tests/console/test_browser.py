"""The console in a real browser (Debian's chromium via Playwright): sign in with a TOTP
code, read the situation and the board, and tell test from live at a glance."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from alerts.console.permissions import Role
from alerts.models import Alert, AlertText, CheckIn
from registrations.models import HouseholdMember
from tests.console.conftest import TEST_PASSWORD, current_code, make_staff
from tests.factories import AlertFactory, AreaFactory, CheckInFactory, CitizenFactory, PresenceFactory

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def sign_in(page, base_url: str, user, device: TOTPDevice | None) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base_url}/console/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", TEST_PASSWORD)
    if device is not None:
        page.fill("#id_otp_token", current_code(device))
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/console/**")


@pytest.fixture
def situation():  # type: ignore[no-untyped-def]
    now = timezone.now()
    AreaFactory(
        country="AF", region="", name="Afghanistan", level=4, level_changed_at=now - datetime.timedelta(hours=2)
    )
    kabul = AreaFactory(country="AF", region="AF-KAB", name="Kabul", level=None)
    AreaFactory(country="PK", region="", name="Pakistan", level=2, level_changed_at=now - datetime.timedelta(days=40))
    AreaFactory(country="IR", region="", name="Iran", level=3, level_changed_at=now - datetime.timedelta(days=9))
    statuses = (
        [CheckIn.Status.SAFE] * 5 + [CheckIn.Status.NEEDS_ASSISTANCE] * 2 + [CheckIn.Status.DEPARTED] + [None] * 4
    )
    for n, status in enumerate(statuses):
        citizen = CitizenFactory(full_name=f"Citizen {n:02d}")
        if n % 3 == 0:
            HouseholdMember.objects.create(citizen=citizen, full_name="Child", relationship="child", age_group="child")
        PresenceFactory(citizen=citizen)
        if status:
            CheckInFactory(citizen=citizen, status=status)
    PresenceFactory(country="PK", region="PK-IS", city="Islamabad")
    return kabul


def test_an_approver_signs_in_with_a_totp_code_and_reads_the_situation_and_board(live_server, desktop_page, situation):  # type: ignore[no-untyped-def]
    from tests.fixtures.browser import save_screenshot

    approver = make_staff(Role.APPROVER, username="bilal.approver")
    device = TOTPDevice.objects.get(user=approver)
    page = desktop_page
    page.goto(f"{live_server.url}/console/")
    page.wait_for_url("**/console/login/**")
    save_screenshot(page, "console-1-login-desktop")

    # Without the code the approver stays out.
    page.fill("#id_username", approver.username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("button[type=submit]")
    assert "six-digit code" in page.content()

    sign_in(page, live_server.url, approver, device)
    assert page.url == f"{live_server.url}/console/"
    rows = page.locator("table.situation tbody tr")
    assert rows.count() == 4
    # Recently changed Afghanistan (and Kabul, which inherits) first; Pakistan, changed long ago, last.
    assert "Afghanistan" in rows.nth(0).inner_text() or "Kabul" in rows.nth(0).inner_text()
    assert "Pakistan" in rows.nth(3).inner_text()
    kabul_row = page.locator("tr", has_text="Kabul").first.inner_text()
    assert "Level 4" in kabul_row
    save_screenshot(page, "console-2-situation-desktop")

    page.click("text=Kabul")
    page.wait_for_url("**/board/")
    assert page.inner_text("#count-registered") == "12"
    assert page.inner_text("#count-safe") == "5"
    assert page.inner_text("#count-needs_assistance") == "2"
    assert page.inner_text("#count-departed") == "1"
    assert page.inner_text("#count-no_answer") == "4"
    page.click(".tile-needs_assistance")
    page.wait_for_url("**list=needs_assistance**")
    assert page.locator("table.people-list tbody tr").count() == 2
    assert "+4477009" in page.inner_text("table.people-list")
    save_screenshot(page, "console-3-board-needs-assistance-desktop")


def test_test_and_live_alerts_look_unmistakably_different(live_server, desktop_page, situation):  # type: ignore[no-untyped-def]
    from tests.fixtures.browser import save_screenshot

    author = make_staff(Role.AUTHOR, device=False, username="amina.author")
    test = AlertFactory(created_by=author, title="Drill: Kabul evacuation", state=Alert.State.DRAFT)
    live = AlertFactory(
        created_by=author, title="Kabul: leave now", live=True, state=Alert.State.DRAFT, advisory_level=4
    )
    live.areas.set([situation])
    for alert in (test, live):
        AlertText.objects.create(
            alert=alert,
            language="en",
            sms_text="Leave Kabul by the northern road today. {checkin_words}",
            email_subject="Leave Kabul today",
            email_body="Dear {name},\nleave Kabul today by the northern road.\n{checkin_link}",
        )
        AlertText.objects.create(alert=alert, language="fa", sms_text="امروز از کابل خارج شوید")
    page = desktop_page
    sign_in(page, live_server.url, author, None)

    page.goto(f"{live_server.url}/console/alerts/{test.pk}/")
    band = page.locator(".mode-band").first
    assert band.inner_text().startswith("TEST — not sent to the public")
    test_colour = band.evaluate("el => getComputedStyle(el).backgroundImage + getComputedStyle(el).backgroundColor")
    save_screenshot(page, "console-4-test-alert-desktop")

    page.goto(f"{live_server.url}/console/alerts/{live.pk}/")
    band = page.locator(".mode-band").first
    assert band.inner_text().startswith("LIVE")
    live_colour = band.evaluate("el => getComputedStyle(el).backgroundImage + getComputedStyle(el).backgroundColor")
    assert live_colour != test_colour
    assert "rgb(176, 0, 32)" in live_colour
    save_screenshot(page, "console-5-live-alert-desktop")

    # Live typing: the JS mirror counts segments as the author types Dari.
    area = page.locator("textarea[name='text-en-sms_text']")
    area.fill("a" * 161)
    assert "2 segment" in page.inner_text("#seg-en")
    area.fill("a" * 150 + "ک")
    assert "UCS-2" in page.inner_text("#seg-en") and "3 segment" in page.inner_text("#seg-en")

    page.goto(f"{live_server.url}/console/alerts/")
    save_screenshot(page, "console-6-history-desktop")


def test_an_author_types_an_expiry_in_kabul_time_and_the_pages_say_kabul_time(  # type: ignore[no-untyped-def]
    live_server, desktop_page, situation, settings
):
    from tests.fixtures.browser import save_screenshot

    settings.EMBASSY_TIME_ZONE = "Asia/Kabul"
    author = make_staff(Role.AUTHOR, device=False, username="amina.author")
    alert = AlertFactory(created_by=author, title="Kabul: curfew from 18:00", state=Alert.State.DRAFT)
    alert.areas.set([situation])
    AlertText.objects.create(
        alert=alert, language="en", sms_text="Curfew from 18:00.", email_subject="Curfew", email_body="Stay inside."
    )
    page = desktop_page
    sign_in(page, live_server.url, author, None)

    page.goto(f"{live_server.url}/console/alerts/{alert.pk}/")
    assert "All times are in Kabul time (UTC+04:30)" in page.inner_text(".console-nav")
    page.click("summary:has-text('Level, language and CAP details')")
    assert "In Kabul time (UTC+04:30)" in page.inner_text("#id_expires_at >> xpath=..")
    page.fill("#id_expires_at", "2031-08-15T18:00")
    page.click("button[name=action][value=save]")
    page.wait_for_selector("text=Saved as a draft.")
    alert.refresh_from_db()
    assert alert.expires_at == datetime.datetime(2031, 8, 15, 13, 30, tzinfo=datetime.UTC)
    page.click("summary:has-text('Level, language and CAP details')")
    assert page.input_value("#id_expires_at") == "2031-08-15T18:00"

    page.goto(f"{live_server.url}/console/alerts/")
    created = timezone.localtime(alert.created_at, ZoneInfo("Asia/Kabul")).strftime("%Y-%m-%d %H:%M")
    assert created in page.inner_text(f"#alert-{alert.pk} .meta")
    save_screenshot(page, "console-7-history-kabul-time-desktop")


def test_a_ready_cancellation_reads_as_prepared_and_not_sent_under_its_alert(live_server, desktop_page, situation):  # type: ignore[no-untyped-def]
    """Its stored title, "Cancelled: ...", at the top of the list under a red LIVE band read
    as if the evacuation alert had been cancelled."""
    from alerts.services.alerts import prepare_cancellation
    from tests.fixtures.browser import save_screenshot

    author = make_staff(Role.AUTHOR, device=False, username="amina.author")
    approver = make_staff(Role.APPROVER, username="james.approver")
    alert = AlertFactory(
        created_by=author,
        approved_by=approver,
        approved_at=timezone.now(),
        title="Jowzjan and Nimruz: leave now",
        live=True,
        state=Alert.State.SENT,
        advisory_level=4,
    )
    alert.areas.set([situation])
    AlertText.objects.create(alert=alert, language="en", sms_text="Leave now by the northern road.")
    cancellation = prepare_cancellation(alert, by=approver)
    page = desktop_page
    sign_in(page, live_server.url, author, None)

    page.goto(f"{live_server.url}/console/alerts/")
    cards = page.locator("article.alert-card")
    assert cards.nth(0).get_attribute("id") == f"alert-{alert.pk}"
    ready = page.locator(f"#alert-{cancellation.pk}")
    assert ready.get_attribute("id") == cards.nth(1).get_attribute("id")
    assert ready.locator(".ready-band").inner_text().startswith("Ready cancellation — not sent")
    assert ready.locator(".mode-band").count() == 0
    colour = ready.locator(".ready-band").evaluate("el => getComputedStyle(el).backgroundColor")
    assert colour != "rgb(176, 0, 32)"  # not the live alert's red
    # Smaller than the alerts' own titles: it does not outrank them.
    sizes = [
        float(card.locator("h2").evaluate("el => parseFloat(getComputedStyle(el).fontSize)"))
        for card in (cards.nth(0), ready)
    ]
    assert sizes[1] < sizes[0]
    assert f"ready, not sent (draft #{cancellation.pk})" in cards.nth(0).inner_text()
    save_screenshot(page, "console-8-history-ready-cancellation-desktop")

    ready.locator("text=Review or send cancellation").click()
    page.wait_for_url(f"**/console/alerts/{cancellation.pk}/")
    assert "Ready cancellation — not sent" in page.inner_text(".ready-band")
    assert page.locator(".mode-band").first.inner_text().startswith("LIVE")
    save_screenshot(page, "console-9-ready-cancellation-desktop")
