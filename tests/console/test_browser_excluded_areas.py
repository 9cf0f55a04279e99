"""In a real browser: a country's level change drafts an alert that leaves out the regions
with a level of their own; the author sees them ticked, adds one, and it saves."""

from __future__ import annotations

import pytest

from alerts.console.permissions import Role
from alerts.models import AlertTemplate, LevelChange
from tests.console.test_browser import sign_in
from tests.factories import AreaFactory, CitizenFactory, PresenceFactory

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_country_level_change_drafts_an_alert_with_excluded_regions_staff_can_change(live_server, desktop_page):  # type: ignore[no-untyped-def]
    from tests.console.conftest import make_staff
    from tests.fixtures.browser import save_screenshot

    afghanistan = AreaFactory(country="AF", region="", name="Afghanistan", level=3)
    AreaFactory(country="AF", region="AF-KAB", name="Kabul province", level=None)
    nimruz = AreaFactory(country="AF", region="AF-NIM", name="Nimruz", level=2)
    jowzjan = AreaFactory(country="AF", region="AF-JOW", name="Jowzjan", level=None)
    for region in ("AF-KAB", "AF-KAB", "AF-NIM", "AF-JOW"):
        PresenceFactory(citizen=CitizenFactory(), region=region)
    AlertTemplate.objects.create(
        level=4,
        language="en",
        sms_text="{area}: level {level}, {level_name}. {checkin_words}",
        email_subject="{area}: {level_name}",
        email_body="Dear {name},\n{area} is at level {level}.\n{checkin_link}",
    )
    author = make_staff(Role.AUTHOR, device=False, username="amina.author")
    page = desktop_page
    sign_in(page, live_server.url, author, None)

    page.goto(f"{live_server.url}/console/areas/{afghanistan.pk}/level/")
    page.check("input[name=level][value='4']")
    page.fill("#id_reason", "Kabul has fallen")
    page.click("form.narrow button[type=submit]")
    page.wait_for_url(f"{live_server.url}/console/alerts/*/")
    alert = LevelChange.objects.get(area=afghanistan).drafted_alert
    assert "Afghanistan, except Nimruz" in page.inner_text("p.meta")
    assert page.inner_text("#aud-excluded") == "Nimruz"
    assert page.inner_text("#aud-citizens") == "3"
    assert page.is_checked(f"input[name=excluded_areas][value='{nimruz.pk}']")
    assert not page.is_checked(f"input[name=excluded_areas][value='{jowzjan.pk}']")

    page.check(f"input[name=excluded_areas][value='{jowzjan.pk}']")
    page.locator("#excluded-areas").scroll_into_view_if_needed()
    save_screenshot(page, "console-7-excluded-areas-desktop")
    page.click("button[name=action][value=save]")
    page.wait_for_url(f"{live_server.url}/console/alerts/{alert.pk}/")
    assert "Afghanistan, except Jowzjan, Nimruz" in page.inner_text("p.meta")
    assert page.inner_text("#aud-citizens") == "2"
    assert set(alert.excluded_areas.all()) == {nimruz, jowzjan}
