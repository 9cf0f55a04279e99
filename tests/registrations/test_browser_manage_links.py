"""In a real browser: a self-service link asked for while Redis is down, on a phone."""

from __future__ import annotations

import pytest

from registrations.models import ManageLinkRequest
from registrations.tasks import requeue_verification_messages
from tests.factories import CitizenFactory
from tests.fixtures.browser import save_screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_with_redis_down_the_page_says_the_link_will_come_and_it_does(
    live_server, phone_page, redis_outage, stub_providers, settings
):
    citizen = CitizenFactory(phone="+93701234567", email="sara@example.org")
    settings.REDIS_URL = redis_outage.url
    redis_outage.down()
    page = phone_page
    page.goto(f"{live_server.url}/manage/")
    page.fill("#id_contact", "sara@example.org")
    page.get_by_role("button", name="Send me a link").click()
    page.get_by_role("heading", name="Check your messages").wait_for()
    text = page.locator("main").inner_text()
    assert "a link will be sent to it as soon as they go out again" in text
    assert "no link could be sent" not in text
    save_screenshot(page, "manage-link-redis-down-phone")
    assert ManageLinkRequest.objects.get().citizen_id == citizen.pk

    redis_outage.up()
    requeue_verification_messages.apply()  # beat, once Redis answers (tasks run in-process here)
    (email,) = stub_providers.received("email")
    assert email["status"] < 300 and not ManageLinkRequest.objects.exists()
