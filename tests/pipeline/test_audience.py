"""Who an alert reaches: areas, inheritance, radius, dedupe, opt-out, unverified, counts."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from alerts.models import Alert
from alerts.services.audience import compute_audience, iter_audience
from tests.factories import CitizenFactory, HouseholdMemberFactory, PresenceFactory, StaffTestRecipientFactory
from tests.pipeline.conftest import KABUL_CIRCLE, make_alert, present

pytestmark = pytest.mark.django_db


def keys(alert: Alert) -> set[int]:
    return {r.key for chunk in iter_audience(alert, chunk_size=2) for r in chunk}


def test_a_country_area_takes_in_all_its_regions(afghanistan, author) -> None:
    a, b = present("AF-KAB"), present("AF-HER")
    present("", country="PK")
    alert = make_alert(author, areas=[afghanistan])
    assert keys(alert) == {a.pk, b.pk}


def test_a_region_area_takes_only_presences_in_that_region(kabul, author) -> None:
    a = present("AF-KAB")
    present("AF-HER")
    present("")  # in the country, region unknown
    assert keys(make_alert(author, areas=[kabul])) == {a.pk}


def test_only_current_presences_count(afghanistan, author) -> None:
    today = timezone.localdate()
    gone = CitizenFactory()
    PresenceFactory(citizen=gone, ended_at=timezone.now())
    later = CitizenFactory()
    PresenceFactory(citizen=later, arrival_date=today + datetime.timedelta(days=5))
    left = CitizenFactory()
    PresenceFactory(
        citizen=left, arrival_date=today - datetime.timedelta(days=9), departure_date=today - datetime.timedelta(days=1)
    )
    here = present("AF-KAB")
    assert keys(make_alert(author, areas=[afghanistan])) == {here.pk}


def test_radius_takes_people_by_coordinates_and_the_citys_region_as_fallback(author) -> None:
    near = CitizenFactory()  # Kabul airport, ~5 km from the centre
    PresenceFactory(citizen=near, latitude=Decimal("34.565"), longitude=Decimal("69.212"))
    far = CitizenFactory()  # Mazar-i-Sharif, ~300 km away, though recorded in the same region
    PresenceFactory(citizen=far, region="AF-KAB", latitude=Decimal("36.709"), longitude=Decimal("67.110"))
    no_point = CitizenFactory()  # in the city's region, no coordinates: the fallback
    PresenceFactory(citizen=no_point, region="AF-KAB")
    elsewhere = CitizenFactory()
    PresenceFactory(citizen=elsewhere, region="AF-HER")
    alert = make_alert(
        author,
        **KABUL_CIRCLE,
        center_name="Kabul",
    )
    assert keys(alert) == {near.pk, no_point.pk}
    summary = compute_audience(alert)
    assert summary["citizens"] == 2 and summary["radius_fallback_citizens"] == 1


def test_opted_out_and_unverified_addresses_are_left_out(afghanistan, author) -> None:
    ok = present()
    sms_out = present(phone_opted_out=True)
    unverified = present(unverified=True)
    both_out = present(phone_opted_out=True, email_opted_out=True)
    alert = make_alert(author, areas=[afghanistan])
    rows = {r.key: r for chunk in iter_audience(alert) for r in chunk}
    assert set(rows) == {ok.pk, sms_out.pk}
    assert rows[sms_out.pk].phone == "" and rows[sms_out.pk].email == sms_out.email
    summary = compute_audience(alert)
    assert summary["unreachable_citizens"] == 2  # the unverified and the fully opted-out one
    assert summary["unverified"] == {"citizens": 1, "addresses": {"sms": 1, "email": 1}}
    assert unverified.pk not in rows and both_out.pk not in rows


def test_include_unverified_adds_unverified_but_never_opted_out(afghanistan, author) -> None:
    unverified = present(unverified=True)
    unverified_out = present(unverified=True, phone_opted_out=True, email_opted_out=True)
    alert = make_alert(author, areas=[afghanistan], include_unverified=True)
    assert keys(alert) == {unverified.pk}
    assert unverified_out.pk not in keys(alert)


def test_counts_citizens_people_and_distinct_addresses(afghanistan, author) -> None:
    family = present()
    HouseholdMemberFactory.create_batch(3, citizen=family)
    present(phone_only=True)
    # An unverified twin sharing the family's email: one address, with include_unverified.
    present(unverified=True, phone="", email=family.email)
    alert = make_alert(author, areas=[afghanistan])
    summary = compute_audience(alert)
    assert summary["citizens"] == 2
    assert summary["people"] == 2 + 3
    assert summary["addresses"] == {"sms": 2, "email": 1}
    alert.include_unverified = True
    summary = compute_audience(alert)
    assert summary["citizens"] == 3 and summary["addresses"] == {"sms": 2, "email": 1}


def test_only_the_alerts_channels_are_counted(afghanistan, author) -> None:
    present()
    present(phone_only=True)
    alert = make_alert(author, areas=[afghanistan], send_sms=False)
    summary = compute_audience(alert)
    assert summary["citizens"] == 1 and summary["addresses"] == {"sms": 0, "email": 1}


def test_a_test_alert_reaches_only_the_staff_test_list(afghanistan, author) -> None:
    present()
    testers = StaffTestRecipientFactory.create_batch(2)
    StaffTestRecipientFactory(active=False)
    alert = make_alert(author, areas=[afghanistan], live=False)
    rows = [r for chunk in iter_audience(alert) for r in chunk]
    assert {r.phone for r in rows} == {t.phone for t in testers}
    assert all(r.citizen_id is None for r in rows)
    assert compute_audience(alert)["people"] == 2


def test_keyset_chunks_cover_everyone_once(afghanistan, author) -> None:
    people = [present() for _ in range(7)]
    alert = make_alert(author, areas=[afghanistan])
    chunks = list(iter_audience(alert, chunk_size=3))
    assert [len(c) for c in chunks] == [3, 3, 1]
    flat = [r.key for c in chunks for r in c]
    assert flat == sorted(p.pk for p in people)
    resumed = [r.key for c in iter_audience(alert, after=flat[2], chunk_size=3) for r in c]
    assert resumed == flat[3:]


def test_a_page_after_a_key_is_the_audience_after_it_with_the_key_in_every_subquery(afghanistan, author) -> None:
    """``after`` gives the same citizens as filtering afterwards, and puts the key on the
    presence subquery too (so PostgreSQL walks presences from the cursor on)."""
    from alerts.services.audience import reachable_citizens

    people = [present("AF-KAB") for _ in range(4)] + [present("AF-HER") for _ in range(3)]
    present("", country="PK")
    alert = make_alert(author, areas=[afghanistan])
    for after in (0, people[2].pk, people[-1].pk):
        paged = set(reachable_citizens(alert, after=after).values_list("pk", flat=True))
        assert paged == set(reachable_citizens(alert).filter(pk__gt=after).values_list("pk", flat=True))
    sql = str(reachable_citizens(alert, after=people[2].pk).query)
    assert f'"registrations_presence"."citizen_id" > {people[2].pk}' in sql.replace("U0.", '"registrations_presence".')


def test_a_fan_out_phase_reads_only_citizens_reachable_on_its_channels(afghanistan, author) -> None:
    """The email phase does not page through SMS-only citizens, nor the SMS phase through email-only ones."""
    from alerts.services.audience import audience_page

    both, sms_only, email_only = present(), present(email=""), present(phone="")
    alert = make_alert(author, areas=[afghanistan])

    def page(channels: list[str] | None) -> set[int]:
        return {row[0] for row in audience_page(alert, after=0, size=10, channels=channels)}

    assert page(None) == {both.pk, sms_only.pk, email_only.pk}
    assert page(["email"]) == {both.pk, email_only.pk}
    assert page(["sms"]) == {both.pk, sms_only.pk}


def test_a_cancellation_reaches_everyone_who_may_have_received_the_original(kabul, author) -> None:
    # The original went to six people in Kabul, and then they all left the area: the
    # cancellation reaches those the provider took it for, and those whose outcome is
    # unclear, but not those it was never sent to or the provider refused.
    from alerts.models import Delivery

    D = Delivery.State  # noqa: N806
    original = make_alert(author, areas=[kabul], state=Alert.State.SENT)
    outcomes = {
        "sent": (D.SENT, ""),
        "delivered": (D.DELIVERED, ""),
        "in flight at the abort": (D.SENDING, ""),
        "outcome unknown": (D.FAILED, "unknown"),
        "timed out, retrying": (D.RETRY, "timeout"),
        "answer lost, retrying": (D.RETRY, "answer"),
        "refused by the carrier": (D.FAILED, "21610"),
        "retrying after a 503": (D.RETRY, "20503"),
        "never sent": (D.QUEUED, ""),
        "skipped at the abort": (D.SKIPPED, "aborted"),
    }
    people = {}
    for label, (state, code) in outcomes.items():
        person = present("AF-HER", phone_only=True)  # no longer in the cancellation's area
        Delivery.objects.create(
            alert=original, channel="sms", address=person.phone, citizen=person, state=state, error_code=code
        )
        people[label] = person.pk
    cancellation = make_alert(
        author, areas=[kabul], msg_type=Alert.MsgType.CANCEL, references=original, state=Alert.State.DRAFT
    )
    reached = {label for label, pk in people.items() if pk in keys(cancellation)}
    assert reached == {
        "sent",
        "delivered",
        "in flight at the abort",
        "outcome unknown",
        "timed out, retrying",
        "answer lost, retrying",
    }
