"""A citizen registers on a phone, in a real browser (Debian's chromium via Playwright)."""

from __future__ import annotations

import pytest

from registrations.models import Citizen
from tests.fixtures.browser import save_screenshot
from tests.registrations.conftest import last_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_citizen_registers_with_their_family_on_a_phone(live_server, phone_page):
    page = phone_page
    page.goto(f"{live_server.url}/?country=AF")
    save_screenshot(page, "registration-1-empty-form-phone")

    page.fill("#id_contact-full_name", "Sara Ahmadi")
    page.fill("#id_contact-phone", "070 123 4567")
    page.fill("#id_contact-email", "sara@example.org")
    page.select_option("#id_presence-region", "AF-JOW")
    page.fill("#id_presence-city", "Sheberghan")
    page.fill("#id_presence-arrival_date", "2021-07-01")
    page.fill("#id_household-0-full_name", "Lina Ahmadi")
    page.select_option("#id_household-0-relationship", "child")
    page.select_option("#id_household-0-age_group", "child")
    # Forgetting consent: the page says why, next to the box, and keeps everything typed.
    page.click("button[value=register]")
    assert page.locator(".has-error #id_contact-consent").count() == 1
    assert page.input_value("#id_household-0-full_name") == "Lina Ahmadi"
    save_screenshot(page, "registration-2-error-kept-input-phone")

    page.check("#id_contact-consent")
    page.click("button[value=register]")
    page.wait_for_url("**/verify/**")
    assert "+93 … 67" in page.content()
    page.fill("#id_code", last_code("+93701234567"))
    save_screenshot(page, "registration-3-code-phone")
    page.click("button[value=verify]")
    page.wait_for_url("**/registered/")
    assert "You are registered" in page.content()
    save_screenshot(page, "registration-4-done-phone")

    citizen = Citizen.objects.get()
    assert citizen.phone_verified_at is not None
    assert citizen.people_count == 2
    assert citizen.presences.get().region == "AF-JOW"


def test_the_region_list_follows_the_country_with_javascript(live_server, phone_page):
    page = phone_page
    page.goto(f"{live_server.url}/?country=AF")
    page.select_option("#id_presence-country", "IR")
    # A locator wait, not wait_for_function: the page's CSP refuses evaluated strings.
    page.locator("#id_presence-region option[value='IR-07']").wait_for(state="attached")
    assert page.locator("#id_presence-region option").count() > 20


def test_the_form_reads_right_to_left_in_dari(live_server, phone_page):
    page = phone_page
    page.goto(f"{live_server.url}/")
    page.select_option("#lang-select", "fa")
    page.click("form.lang button")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.locator("html").get_attribute("lang") == "fa"
    save_screenshot(page, "registration-5-dari-phone")
