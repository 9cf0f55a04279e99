"""Excluded areas: regions carved out of a country alert, and the level change that fills them in."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import connection

from alerts.models import Alert, AlertTemplate, Delivery
from alerts.services import fanout
from alerts.services.alerts import content_problems, draft_update, submit_for_approval
from alerts.services.areas import change_advisory_level, excluded_area_problems
from alerts.services.audience import compute_audience, iter_audience, reachable_citizens
from tests.factories import AlertTemplateFactory, AreaFactory, PresenceFactory
from tests.pipeline.conftest import KABUL_CIRCLE, accepted, make_alert, present

pytestmark = pytest.mark.django_db


@pytest.fixture
def nimruz(afghanistan):
    return AreaFactory(country="AF", region="AF-NIM", name="Nimruz", level=4)


@pytest.fixture
def people(kabul):
    """Who lives where: Kabul only, Herat only, both, Afghanistan without a region."""
    in_kabul = present("AF-KAB", full_name="Kabul only")
    in_herat = present("AF-HER", full_name="Herat only")
    both = present("AF-KAB", full_name="Kabul and Herat")
    PresenceFactory(citizen=both, region="AF-HER", city="")
    somewhere = present("", full_name="Region unknown")
    return {"kabul": in_kabul, "herat": in_herat, "both": both, "somewhere": somewhere}


def audience_keys(alert: Alert) -> set[int]:
    return {r.key for chunk in iter_audience(alert, chunk_size=2) for r in chunk}


def test_an_excluded_region_leaves_out_who_is_only_there(afghanistan, kabul, people, author) -> None:
    alert = make_alert(author, areas=[afghanistan])
    alert.excluded_areas.set([kabul])
    expected = {people["herat"].pk, people["both"].pk, people["somewhere"].pk}
    assert audience_keys(alert) == expected
    assert set(reachable_citizens(alert).values_list("pk", flat=True)) == expected
    assert compute_audience(alert)["citizens"] == 3
    alert.excluded_areas.clear()
    assert compute_audience(alert)["citizens"] == 4


def test_an_excluded_region_does_not_narrow_a_radius(afghanistan, kabul, people, author) -> None:
    alert = make_alert(author, areas=[afghanistan], **KABUL_CIRCLE)
    alert.excluded_areas.set([kabul])
    # Kabul's people without coordinates come back in through the radius' fallback region.
    assert people["kabul"].pk in audience_keys(alert)


def test_an_excluded_area_must_lie_inside_one_of_the_alerts_areas(afghanistan, kabul, author) -> None:
    pakistan = AreaFactory(country="PK", region="", name="Pakistan", level=2)
    punjab = AreaFactory(country="PK", region="PK-PB", name="Punjab", level=None)
    assert excluded_area_problems([afghanistan], [kabul]) == []
    assert "Punjab does not lie inside" in excluded_area_problems([afghanistan], [punjab])[0]
    assert "Pakistan does not lie inside" in excluded_area_problems([afghanistan], [pakistan])[0]
    assert "untick it there" in excluded_area_problems([kabul], [kabul])[0]
    assert "does not lie inside" in excluded_area_problems([kabul], [AreaFactory(region="AF-HER", level=None)])[0]
    alert = make_alert(author, live=True, areas=[kabul])
    alert.excluded_areas.set([punjab])
    assert any("Punjab" in p for p in content_problems(alert))


def test_a_country_level_change_drafts_an_alert_leaving_out_regions_with_their_own_level(
    afghanistan, kabul, nimruz, author
) -> None:
    AlertTemplateFactory(level=3)
    herat = AreaFactory(country="AF", region="AF-HER", name="Herat", level=3)  # same as the new level
    jowzjan = AreaFactory(country="AF", region="AF-JOW", name="Jowzjan", level=1)
    change = change_advisory_level(afghanistan, 3, by=author, reason="Fighting spreads")
    alert = change.drafted_alert
    assert set(alert.areas.all()) == {afghanistan}
    # Kabul inherits and Herat is at 3 already: both get it; Nimruz (4) and Jowzjan (1) keep their own.
    assert set(alert.excluded_areas.all()) == {nimruz, jowzjan}
    assert herat not in alert.excluded_areas.all() and kabul not in alert.excluded_areas.all()
    assert content_problems(alert) == []
    # A correction of it keeps the same audience.
    assert set(draft_update(alert, by=author).excluded_areas.all()) == {nimruz, jowzjan}


def test_a_region_level_change_drafts_an_alert_without_exclusions(afghanistan, kabul, author) -> None:
    AlertTemplateFactory(level=4)
    change = change_advisory_level(kabul, 4, by=author, reason="The city is surrounded")
    assert list(change.drafted_alert.areas.all()) == [kabul]
    assert not change.drafted_alert.excluded_areas.exists()
    assert AlertTemplate.objects.count() == 1


def _fan_out_to(sending, afghanistan, kabul, people, author, approver, callbacks):  # type: ignore[no-untyped-def]
    alert = make_alert(author, areas=[afghanistan])
    alert.excluded_areas.set([kabul])
    submit_for_approval(alert, by=author)
    with mock.patch.object(fanout, "_fan_out_in_sql", wraps=fanout._fan_out_in_sql) as in_sql:
        with callbacks(execute=True):
            from alerts.services.alerts import approve_alert

            approve_alert(alert, by=approver)
    addresses = set(Delivery.objects.filter(alert=alert).values_list("address", flat=True))
    kabul_only = people["kabul"]
    assert kabul_only.phone not in addresses and kabul_only.email not in addresses
    assert kabul_only.phone not in accepted(sending, "sms") and kabul_only.email not in accepted(sending, "email")
    for key in ("herat", "both", "somewhere"):
        assert people[key].phone in accepted(sending, "sms")
    return in_sql.called


@pytest.mark.postgres
def test_the_sql_fan_out_delivers_to_nobody_only_in_an_excluded_area(
    sending, afghanistan, kabul, people, author, approver, settings, django_capture_on_commit_callbacks
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the SQL fan-out runs on PostgreSQL only")
    settings.ALERT_FANOUT_CHUNK = 2  # several chunks: the exclusion holds in each
    assert _fan_out_to(sending, afghanistan, kabul, people, author, approver, django_capture_on_commit_callbacks)


def test_the_fan_out_delivers_to_nobody_only_in_an_excluded_area(
    sending, afghanistan, kabul, people, author, approver, django_capture_on_commit_callbacks
) -> None:
    """On SQLite this is the ORM fan-out (``iter_audience``); on PostgreSQL the SQL one."""
    used_sql = _fan_out_to(sending, afghanistan, kabul, people, author, approver, django_capture_on_commit_callbacks)
    assert used_sql == (connection.vendor == "postgresql")


@pytest.fixture
def sending(stub_providers, settings):  # type: ignore[no-untyped-def]
    settings.SMS_RATE_PER_SECOND = 1000
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "6" * 32  # a limiter key of its own
    return stub_providers
