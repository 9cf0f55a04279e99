"""A citizen answers and unsubscribes from a phone, in a real browser, JavaScript off."""

from __future__ import annotations

import pytest

from alerts.models import CheckIn
from alerts.services.links import check_in_url, unsubscribe_url
from tests.factories import AlertFactory, CitizenFactory
from tests.fixtures.browser import PHONE, save_screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def phone_without_js(browser):
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def _at(live_server, url: str) -> str:
    return live_server.url + url.removeprefix("http://testserver")


def test_a_citizen_checks_in_with_one_tap_on_a_phone(live_server, settings, phone_without_js) -> None:
    page = phone_without_js
    citizen = CitizenFactory()
    alert = AlertFactory(title="Go to the northern gate")
    page.goto(_at(live_server, check_in_url(citizen, alert)))
    buttons = page.locator("form.answers button")
    assert buttons.all_inner_texts() == ["I am safe", "I need assistance", "I have left"]
    for box in (buttons.nth(i).bounding_box() for i in range(3)):
        assert box["height"] >= 48 and box["width"] >= 300  # big enough for a thumb
    save_screenshot(page, "check-in-1-answers-phone")
    assert not CheckIn.objects.exists()

    page.click("text=I need assistance")
    assert "We have recorded" in page.content()
    save_screenshot(page, "check-in-2-recorded-phone")
    check_in = CheckIn.objects.get()
    assert (check_in.status, check_in.source, check_in.alert) == (
        CheckIn.Status.NEEDS_ASSISTANCE,
        CheckIn.Source.LINK,
        alert,
    )


def test_a_citizen_unsubscribes_with_the_button_on_a_phone(live_server, phone_without_js) -> None:
    page = phone_without_js
    citizen = CitizenFactory()
    page.goto(_at(live_server, unsubscribe_url(citizen)))
    save_screenshot(page, "unsubscribe-1-page-phone")
    citizen.refresh_from_db()
    assert citizen.email_opted_out_at is None

    page.click("button:has-text('Unsubscribe')")
    assert "no more alert emails" in page.content()
    citizen.refresh_from_db()
    assert citizen.email_opted_out_at is not None
