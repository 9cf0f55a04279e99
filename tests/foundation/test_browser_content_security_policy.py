"""The strict Content-Security-Policy in a real browser (Debian's chromium via Playwright):
citizens' pages, the console and the Django admin load with no policy violation and no
console error, their styles apply and their scripts still work."""

from __future__ import annotations

from typing import Any

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from alerts.console.permissions import Role
from alerts.models import Alert
from alerts.services import links
from registrations.services import manage_url
from tests.console.conftest import make_staff
from tests.console.test_browser import sign_in
from tests.factories import AlertFactory, AlertTextFactory, AreaFactory, CitizenFactory, PresenceFactory

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# Runs in every document before its own scripts: reports each violation to the test.
LISTEN = """
document.addEventListener("securitypolicyviolation", function (e) {
  window.cspViolation({page: location.pathname, directive: e.violatedDirective,
                       blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber, sample: e.sample});
});
"""


class Watch:
    """Policy violations, console errors and warnings, and uncaught script errors."""

    def __init__(self, page: Any) -> None:
        self.violations: list[dict[str, Any]] = []
        self.console: list[str] = []
        page.expose_function("cspViolation", lambda violation: self.violations.append(violation))
        page.context.add_init_script(LISTEN)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.console.append(f"pageerror {page.url}: {error}"))

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.console.append(f"{message.type} {message.location.get('url', '')}: {message.text}")

    def assert_clean(self, *expected: str) -> None:
        """No violation, and no console line but those containing one of ``expected``."""
        assert self.violations == []
        assert [line for line in self.console if not any(text in line for text in expected)] == []


def style(page: Any, selector: str, prop: str) -> str:
    return page.eval_on_selector(selector, f"el => getComputedStyle(el).getPropertyValue('{prop}')")


@pytest.fixture
def citizen():  # type: ignore[no-untyped-def]
    person = CitizenFactory(full_name="Sara Ahmadi")
    PresenceFactory(citizen=person)
    return person


def test_the_watch_sees_a_violation(live_server, phone_page):  # type: ignore[no-untyped-def]
    """The listener works: an inline style added to a page is refused and reported."""
    page = phone_page
    watch = Watch(page)
    page.goto(f"{live_server.url}/")
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<p id=inline style=\"color: red\">x</p>')")
    page.wait_for_timeout(200)  # violation events are queued as a task
    assert [v["directive"] for v in watch.violations] == ["style-src-attr"]
    assert style(page, "#inline", "color") != "rgb(255, 0, 0)"


def test_citizens_pages_break_no_rule_and_still_work(live_server, phone_page, citizen):  # type: ignore[no-untyped-def]
    page = phone_page
    watch = Watch(page)

    page.goto(f"{live_server.url}/?country=AF")
    assert style(page, "button[value=register]", "background-color") == "rgb(11, 61, 98)"  # site.css
    # register.js refills the region list from /regions/ (fetch, connect-src 'self').
    page.select_option("#id_presence-country", "IR")
    # Locator waits, never wait_for_function: the policy refuses the strings it evaluates.
    page.locator("#id_presence-region option[value='IR-07']").wait_for(state="attached")
    # A form with errors: register.js focuses the summary.
    page.click("button[value=register]")
    page.wait_for_selector("#errors")
    assert page.evaluate("document.activeElement.id") == "errors"
    # The language switcher posts to /i18n/setlang/ and comes back (form-action 'self').
    page.select_option("#lang-select", "fa")
    page.click("form.lang button[type=submit]")
    page.wait_for_selector("html[dir=rtl]")

    page.goto(manage_url(citizen).replace("http://testserver", live_server.url))
    assert style(page, "form.inline", "display") == "inline"  # was style="display:inline"
    page.goto(links.check_in_url(citizen).replace("http://testserver", live_server.url))
    assert style(page, ".answers", "display") == "grid"  # links.css, was an inline <style>
    page.goto(links.unsubscribe_url(citizen).replace("http://testserver", live_server.url))
    page.goto(f"{live_server.url}/manage/")
    watch.assert_clean("status of 400 (Bad Request)")  # the form with errors answers 400, by design


def test_console_and_admin_pages_break_no_rule_and_still_work(live_server, desktop_page, citizen, settings):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    settings.EMBASSY_TIME_ZONE = "Asia/Kabul"
    area = AreaFactory(country="AF", level=4)
    staff = make_staff(Role.AUTHOR, Role.APPROVER, Role.ADMINISTRATOR, username="ada.admin")
    staff.is_superuser = True
    staff.save(update_fields=["is_superuser"])
    draft = AlertFactory(created_by=staff, title="Kabul: leave now", state=Alert.State.DRAFT)
    draft.areas.set([area])
    AlertTextFactory(alert=draft)
    sending = AlertFactory(created_by=staff, title="Kabul: curfew", state=Alert.State.SENDING)
    page = desktop_page
    watch = Watch(page)

    sign_in(page, live_server.url, staff, TOTPDevice.objects.get(user=staff))
    assert style(page, ".console-nav", "display") != ""  # console.css
    for path in ("/console/", f"/console/areas/{area.pk}/board/", "/console/alerts/", "/console/messages/"):
        page.goto(f"{live_server.url}{path}")
    page.goto(f"{live_server.url}/console/audit/")
    page.goto(f"{live_server.url}/console/staff/")

    # Compose: mode.js turns the band live, segments.js counts as the author types.
    page.goto(f"{live_server.url}/console/alerts/{draft.pk}/")
    page.check("input[name=is_test][value=live]")
    page.wait_for_selector(".mode-band.mode-live")
    page.locator("textarea[name='text-en-sms_text']").fill("a" * 161)
    assert "2 segment" in page.inner_text("#seg-en")

    # Progress: progress.js reads the JSON (connect-src 'self') and updates the page.
    page.goto(f"{live_server.url}/console/alerts/{sending.pk}/progress/")
    assert page.inner_text("#alert-state") == "Sending"
    Alert.objects.filter(pk=sending.pk).update(state=Alert.State.SENT)
    expect(page.locator("#alert-state")).to_have_text("Sent")

    # The Django admin: its own scripts and styles, and ours (admin.css, was inline).
    page.goto(f"{live_server.url}/admin/")
    assert style(page, "#branding .time-zone", "margin-top") == "0px"
    page.goto(f"{live_server.url}/admin/registrations/citizen/?q=Sara")
    assert "Sara Ahmadi" in page.inner_text("#result_list")
    page.goto(f"{live_server.url}/admin/auth/user/{staff.pk}/change/")
    # DateTimeShortcuts.js adds the "Today" link; SelectFilter2.js builds the two-box picker.
    page.fill("#id_date_joined_0", "")
    page.click("#id_date_joined_0 + .datetimeshortcuts a:has-text('Today')")
    assert page.input_value("#id_date_joined_0") != ""
    page.wait_for_selector("#id_groups_from")
    page.goto(f"{live_server.url}/admin/auth/group/add/")
    page.wait_for_selector("#id_permissions_from")
    page.goto(f"{live_server.url}/admin/password_change/")
    watch.assert_clean()
