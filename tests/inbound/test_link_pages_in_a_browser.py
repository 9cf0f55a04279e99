"""A citizen answers and unsubscribes from a phone, in a real browser, JavaScript off."""

from __future__ import annotations

import pytest

from alerts.models import CheckIn
from alerts.services.links import check_in_url, unsubscribe_url
from tests.factories import AlertFactory, AlertTextFactory, CitizenFactory
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


def test_a_dari_citizen_checks_in_in_dari_on_a_phone_set_to_english(live_server, browser) -> None:
    context = browser.new_context(
        viewport=PHONE, has_touch=True, is_mobile=True, java_script_enabled=False, locale="en-US"
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    citizen = CitizenFactory(preferred_language="fa")
    alert = AlertFactory(title="Kabul L4 wave 2 (internal)", live=True)
    AlertTextFactory(alert=alert, language="en", email_subject="Leave Kabul now: go to the northern gate")
    AlertTextFactory(alert=alert, language="fa", email_subject="همین حالا کابل را ترک کنید: به دروازه شمالی بروید")
    try:
        page.goto(_at(live_server, check_in_url(citizen, alert)))
        assert page.locator("html").get_attribute("lang") == "fa"
        assert page.locator("html").get_attribute("dir") == "rtl"
        assert page.locator("h1").inner_text() == "به سفارت بگویید که چطور هستید"
        line = page.locator("p.alert-words")
        assert "همین حالا کابل را ترک کنید" in line.inner_text()
        assert "Kabul L4" not in page.content()
        buttons = page.locator("form.answers button")
        assert buttons.all_inner_texts()[0] == "من در امان هستم"
        for box in (buttons.nth(i).bounding_box() for i in range(3)):
            assert box["height"] >= 48 and box["width"] >= 300
        # Nothing wider than the phone: no sideways scrolling.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        save_screenshot(page, "check-in-3-answers-dari-phone")
        buttons.nth(0).click()
        assert page.locator("html").get_attribute("lang") == "fa"
        assert "ما ثبت کردیم" in page.locator("p.recorded").inner_text()
        save_screenshot(page, "check-in-4-recorded-dari-phone")
    finally:
        context.close()
    assert CheckIn.objects.get().status == CheckIn.Status.SAFE


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
