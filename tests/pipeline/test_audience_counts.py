"""The audience counts: every figure from one aggregate query, equal to counting by hand.

``compute_audience`` reads all its figures in one scan of the audience (``count(*)
FILTER (WHERE ...)``). These tests hold it to a plain Python count of the same rows on a
varied data set, for each choice an approver can make, and pin the number of queries.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts.models import Alert, CheckIn
from alerts.services.audience import compute_audience, iter_audience
from registrations.models import Citizen
from tests.factories import (
    CheckInFactory,
    CitizenFactory,
    HouseholdMemberFactory,
    PresenceFactory,
    StaffTestRecipientFactory,
)
from tests.pipeline.conftest import KABUL_CIRCLE, make_alert, present

pytestmark = pytest.mark.django_db

KABUL_POINT = {"latitude": Decimal("34.565"), "longitude": Decimal("69.212")}  # ~5 km from the centre
MAZAR_POINT = {"latitude": Decimal("36.709"), "longitude": Decimal("67.110")}  # ~300 km away


def varied_people() -> None:
    """Citizens of every kind the counts tell apart, in and out of the audience."""
    now = timezone.now()
    family = present("AF-KAB")
    HouseholdMemberFactory.create_batch(3, citizen=family)
    HouseholdMemberFactory.create_batch(2, citizen=present("AF-HER", phone_only=True))
    present("AF-KAB", email_only=True)
    present("AF-HER", phone_opted_out=True)
    present("AF-KAB", email_opted_out=True)
    out = present("AF-HER", phone_opted_out=True, email_opted_out=True)
    HouseholdMemberFactory(citizen=out)  # unreachable: their household is not counted
    HouseholdMemberFactory(citizen=present("AF-KAB", unverified=True))
    present("AF-KAB", unverified=True, phone_opted_out=True)
    # Unverified twins sharing a verified citizen's address, and each other's.
    present("AF-HER", unverified=True, phone=family.phone, email="")
    present("AF-KAB", unverified=True, phone="", email=family.email)
    present("AF-BAL", unverified=True, phone="+447700111222", email="twin@example.org")
    present("AF-BAL", unverified=True, phone="+447700111222", email="twin@example.org")
    # One contact verified, the other not.
    present("AF-KAB", email_verified_at=None)
    present("AF-HER", phone_verified_at=None)
    # Two presences in the area: still one citizen.
    both = present("AF-KAB")
    PresenceFactory(citizen=both, region="AF-HER", city="")
    # In the radius by coordinates, outside it, and in the centre's region without a point.
    PresenceFactory(citizen=CitizenFactory(), region="AF-KAB", **KABUL_POINT)
    PresenceFactory(citizen=CitizenFactory(), region="AF-KAB", **MAZAR_POINT)
    fallback = CitizenFactory(email_verified_at=None)
    PresenceFactory(citizen=fallback, region="AF-KAB")
    HouseholdMemberFactory(citizen=fallback)
    # Not in the audience: elsewhere, gone, not yet arrived.
    present("", country="PK")
    PresenceFactory(citizen=CitizenFactory(), ended_at=now)
    PresenceFactory(citizen=CitizenFactory(), arrival_date=timezone.localdate() + datetime.timedelta(days=3))
    # Someone who already checked in (for follow-ups).
    CheckInFactory(citizen=present("AF-HER"))


def _phone_ok(c: Citizen, include: bool) -> bool:
    return bool(c.phone) and c.phone_opted_out_at is None and (include or c.phone_verified_at is not None)


def _email_ok(c: Citizen, include: bool) -> bool:
    return bool(c.email) and c.email_opted_out_at is None and (include or c.email_verified_at is not None)


def by_hand(alert: Alert, audience: list[Citizen], fallback_ids: set[int]) -> dict[str, Any]:
    """The figures ``compute_audience`` promises, counted in Python from the audience's citizens."""
    sms, email, include = alert.send_sms, alert.send_email, alert.include_unverified

    def reachable(c: Citizen, inc: bool) -> bool:
        return (sms and _phone_ok(c, inc)) or (email and _email_ok(c, inc))

    def addresses(inc: bool) -> dict[str, int]:
        return {
            "sms": len({c.phone for c in audience if _phone_ok(c, inc)}) if sms else 0,
            "email": len({c.email for c in audience if _email_ok(c, inc)}) if email else 0,
        }

    reached = [c for c in audience if reachable(c, include)]
    verified, everything = addresses(False), addresses(True)
    return {
        "test": False,
        "include_unverified": include,
        "citizens": len(reached),
        "people": len(reached) + sum(c.household.count() for c in reached),
        "addresses": everything if include else verified,
        "unreachable_citizens": len(audience) - len(reached),
        "radius_fallback_citizens": len([c for c in reached if c.pk in fallback_ids]),
        "unverified": {
            "citizens": len([c for c in audience if reachable(c, True)])
            - len([c for c in audience if reachable(c, False)]),
            "addresses": {ch: everything[ch] - verified[ch] for ch in ("sms", "email")},
        },
    }


def figures(alert: Alert) -> dict[str, Any]:
    summary = compute_audience(alert, save=False)
    summary.pop("computed_at")
    return summary


@pytest.mark.parametrize("include_unverified", [False, True])
@pytest.mark.parametrize("channels", [(True, True), (True, False), (False, True)])
def test_area_counts_equal_counting_by_hand(afghanistan, author, include_unverified, channels) -> None:
    varied_people()
    send_sms, send_email = channels
    alert = make_alert(
        author, areas=[afghanistan], include_unverified=include_unverified, send_sms=send_sms, send_email=send_email
    )
    audience = list(Citizen.objects.filter(presences__country="AF").distinct())
    current = [c for c in audience if c.presences.current().filter(country="AF").exists()]
    expected = by_hand(alert, current, set())
    assert figures(alert) == expected
    # The counts agree with what the fan-out reads.
    rows = [r for chunk in iter_audience(alert, chunk_size=4) for r in chunk]
    assert len(rows) == expected["citizens"]
    assert len({r.phone for r in rows if r.phone}) == expected["addresses"]["sms"]
    assert len({r.email for r in rows if r.email}) == expected["addresses"]["email"]


@pytest.mark.parametrize("include_unverified", [False, True])
def test_radius_counts_with_the_fallback_region_equal_counting_by_hand(author, include_unverified) -> None:
    varied_people()
    alert = make_alert(
        author,
        **KABUL_CIRCLE,
        center_name="Kabul",
        include_unverified=include_unverified,
    )
    keys = {r.key for chunk in iter_audience(alert) for r in chunk}
    with_point = {
        c.pk
        for c in Citizen.objects.filter(presences__latitude=KABUL_POINT["latitude"], presences__ended_at__isnull=True)
    }
    no_point = {
        c.pk
        for c in Citizen.objects.filter(presences__region="AF-KAB", presences__latitude__isnull=True)
        if c.presences.current().filter(region="AF-KAB", latitude__isnull=True).exists()
    }
    audience = list(Citizen.objects.filter(pk__in=with_point | no_point))
    expected = by_hand(alert, audience, no_point - with_point)
    assert expected["radius_fallback_citizens"] > 0 and expected["citizens"] == len(keys)
    assert figures(alert) == expected


def test_follow_up_counts_leave_out_who_answered(afghanistan, author) -> None:
    varied_people()
    alert = make_alert(author, areas=[afghanistan], only_unanswered=True)
    current = [
        c
        for c in Citizen.objects.filter(presences__country="AF").distinct()
        if c.presences.current().filter(country="AF").exists() and not CheckIn.objects.filter(citizen=c).exists()
    ]
    assert figures(alert) == by_hand(alert, current, set())


def test_counts_take_one_aggregate_query(afghanistan, author) -> None:
    varied_people()
    alert = make_alert(
        author,
        areas=[afghanistan],
        **KABUL_CIRCLE,
    )
    alert = Alert.objects.prefetch_related("areas", "excluded_areas").get(pk=alert.pk)
    with CaptureQueriesContext(connection) as read:
        compute_audience(alert, save=False)
    assert len(read.captured_queries) == 1, [q["sql"] for q in read.captured_queries]
    alert = Alert.objects.get(pk=alert.pk)
    with CaptureQueriesContext(connection) as saved:
        compute_audience(alert)
    # The alert's areas and excluded areas, the one aggregate, the UPDATE that stores the summary.
    assert len(saved.captured_queries) == 4


def test_test_alert_counts_take_one_query(author, django_assert_num_queries) -> None:
    StaffTestRecipientFactory.create_batch(2)
    StaffTestRecipientFactory(phone="", email="shared@embassy.example")
    StaffTestRecipientFactory(email="shared@embassy.example")
    StaffTestRecipientFactory(active=False)
    alert = make_alert(author, live=False)
    with django_assert_num_queries(1):
        summary = compute_audience(alert, save=False)
    assert summary["people"] == 4 and summary["addresses"] == {"sms": 3, "email": 3}
