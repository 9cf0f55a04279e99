from __future__ import annotations

import re

import pytest

from alerts.models import OutboxMessage


def valid_form(**overrides: str) -> dict[str, str]:
    """A complete registration as the browser posts it: a family of three in Kabul."""
    data = {
        "contact-full_name": "Sara Ahmadi",
        "contact-phone": "+93 70 123 4567",
        "contact-email": "sara@example.org",
        "contact-preferred_language": "en",
        "contact-emergency_contact_name": "Omid Ahmadi",
        "contact-emergency_contact_phone": "+44 20 7946 0018",
        "contact-consent": "on",
        "presence-country": "AF",
        "presence-region": "AF-KAB",
        "presence-city": "Kabul",
        "presence-latitude": "34.5553",
        "presence-longitude": "69.2075",
        "presence-arrival_date": "2021-07-01",
        "presence-departure_date": "2021-09-30",
        "household-TOTAL_FORMS": "3",
        "household-INITIAL_FORMS": "0",
        "household-MIN_NUM_FORMS": "0",
        "household-MAX_NUM_FORMS": "20",
        "household-0-full_name": "Ali Ahmadi",
        "household-0-relationship": "partner",
        "household-0-age_group": "adult",
        "household-1-full_name": "Lina Ahmadi",
        "household-1-relationship": "child",
        "household-1-age_group": "child",
        "household-2-full_name": "",
        "household-2-relationship": "",
        "household-2-age_group": "",
        "action": "register",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def form_data():
    return valid_form


def last_code(phone: str) -> str:
    message = OutboxMessage.objects.filter(channel="sms", to=phone).order_by("-id").first()
    assert message is not None, "no SMS reached the outbox"
    return re.search(r"\b(\d{6})\b", message.body).group(1)


def last_link(email: str) -> str:
    message = OutboxMessage.objects.filter(channel="email", to=email).order_by("-id").first()
    assert message is not None, "no email reached the outbox"
    return re.search(r"https?://\S+", message.body).group(0).replace("http://testserver", "")


@pytest.fixture
def register(client, django_capture_on_commit_callbacks):
    """Post a registration and run its after-commit sends; return the response."""

    def post(data: dict[str, str]):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/", data)

    return post


@pytest.fixture
def held():
    """Message tasks published but not run (what a worker would get later): the mock of
    ``send_single_message.apply_async``. Tasks applied directly still run in-process."""
    from unittest import mock

    from alerts.tasks import send_single_message

    app = send_single_message.app
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        with mock.patch.object(send_single_message, "apply_async") as publish:
            yield publish
    finally:
        app.conf.task_always_eager = eager
