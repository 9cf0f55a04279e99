"""The development outbox page (DEBUG on, or staff)."""

from __future__ import annotations

import re

import pytest
from django.test import override_settings

from alerts.models import OutboxMessage

pytestmark = pytest.mark.django_db


@override_settings(DEBUG=True)
def test_the_outbox_says_the_time_zone_of_its_times(client):
    OutboxMessage.objects.create(
        channel="sms", to="+93700000001", body="Your code is 123456.", provider_message_id="SMx"
    )
    html = client.get("/dev/outbox/").content.decode()
    assert "Your code is 123456." in html
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</time>", html)


@override_settings(DEBUG=False)
def test_without_debug_the_outbox_opens_only_to_staff_who_passed_the_second_factor(client, admin_user, admin_client):
    # Codes and contacts are on it: a staging deployment running with the outbox
    # (ALLOW_OUTBOX_BACKENDS) must not show them to a stolen password.
    OutboxMessage.objects.create(
        channel="sms", to="+93700000001", body="Your code is 123456.", provider_message_id="SMx"
    )
    assert client.get("/dev/outbox/").status_code == 404  # nobody signed in
    client.force_login(admin_user)  # staff, password only
    assert client.get("/dev/outbox/").status_code == 404
    page = admin_client.get("/dev/outbox/")  # staff, second factor passed
    assert page.status_code == 200 and "Your code is 123456." in page.content.decode()
