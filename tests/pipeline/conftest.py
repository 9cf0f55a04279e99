"""Helpers for the alert pipeline's tests: staff, areas, people present, ready alerts."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import pytest

from alerts.console.permissions import Role
from alerts.models import Alert, AlertText, Area
from tests.factories import AlertFactory, AreaFactory, CitizenFactory, PresenceFactory, UserFactory

TEXT = {
    "sms_text": "{name}, leave {area} now. {checkin_words}",
    "email_subject": "Leave {area}",
    "email_body": "Dear {name}, leave {area} now.\nCheck in: {checkin_link}\nStop: {unsubscribe_link}",
}


@pytest.fixture
def author() -> Any:
    # Authors here may also approve others' alerts (and their own test alerts), as a
    # small embassy's duty officer does; the author-cannot-approve rule still holds.
    return UserFactory(username="author", roles=[Role.AUTHOR, Role.APPROVER])


@pytest.fixture
def approver() -> Any:
    return UserFactory(username="approver", roles=[Role.APPROVER])


@pytest.fixture
def afghanistan() -> Area:
    return AreaFactory(country="AF", region="", name="Afghanistan", level=2)


@pytest.fixture
def kabul(afghanistan: Area) -> Area:
    return AreaFactory(country="AF", region="AF-KAB", name="Kabul province", level=None)


def present(region: str = "AF-KAB", country: str = "AF", **citizen: Any) -> Any:
    """A citizen with a current presence in ``region`` of ``country``."""
    person = CitizenFactory(**citizen)
    PresenceFactory(citizen=person, country=country, region=region, city="")
    return person


def make_alert(
    author: Any,
    *,
    areas: Iterable[Area] = (),
    live: bool = True,
    texts: dict[str, dict[str, str]] | None = None,
    **fields: Any,
) -> Alert:
    """A draft alert with texts (English by default) for ``areas``."""
    alert = AlertFactory(created_by=author, is_test=not live, **fields)
    alert.areas.set(list(areas))
    for language, text in (texts or {"en": TEXT}).items():
        AlertText.objects.create(alert=alert, language=language, **text)
    return alert


#: A 25 km circle round central Kabul, its region the fallback for presences without coordinates.
KABUL_CIRCLE = {
    "center_latitude": Decimal("34.5553"),
    "center_longitude": Decimal("69.2075"),
    "radius_km": Decimal("25"),
    "center_region": "AF-KAB",
}


def accepted(stub: Any, api: str) -> list[str]:
    """Destinations of the requests the provider stub accepted (one per message)."""
    return [to for record in stub.received(api) if record.get("status", 500) < 300 for to in record["to"]]


def run_pipeline(callbacks_fixture: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call ``fn`` and run every on-commit callback it (and the tasks it queues) adds."""
    with callbacks_fixture(execute=True):
        return fn(*args, **kwargs)


def send_through_stub(stub_providers: Any, settings: Any, sender: str) -> Any:
    """The loopback stub as both providers, the SMS rate limit out of the way, and an SMS
    sender of the test module's own (``sender``: one digit; the shared limiter keys its
    slots by sender, so modules never wait on each other's)."""
    settings.SMS_RATE_PER_SECOND = 1000
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + sender * 32
    return stub_providers
