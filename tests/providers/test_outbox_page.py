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
