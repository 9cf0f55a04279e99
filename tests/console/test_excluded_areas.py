"""Excluded areas in the console: compose, validation, the level-change draft, history."""

from __future__ import annotations

import pytest
from django.urls import reverse

from alerts.models import Alert, AlertTemplate, AuditEntry, LevelChange
from tests.console.test_alert_pages import compose_data
from tests.factories import AreaFactory, CitizenFactory, PresenceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def country():  # type: ignore[no-untyped-def]
    afghanistan = AreaFactory(country="AF", region="", name="Afghanistan", level=3)
    regions = {
        "kabul": AreaFactory(country="AF", region="AF-KAB", name="Kabul", level=None),
        "nimruz": AreaFactory(country="AF", region="AF-NIM", name="Nimruz", level=4),
        "herat": AreaFactory(country="AF", region="AF-HER", name="Herat", level=2),
        "punjab": AreaFactory(country="PK", region="PK-PB", name="Punjab", level=None),
    }
    for region in ("AF-KAB", "AF-NIM", "AF-HER"):
        PresenceFactory(citizen=CitizenFactory(), region=region)
    return {"country": afghanistan, **regions}


def test_an_excluded_area_outside_the_alerts_areas_is_refused_and_nothing_is_saved(country, author_client):
    data = compose_data(areas=[country["country"].pk], excluded_areas=[country["punjab"].pk])
    response = author_client.post(reverse("console:alert-new"), data)
    assert response.status_code == 200
    assert "Punjab does not lie inside any of the alert&#x27;s areas" in response.content.decode()
    assert not Alert.objects.exists() and not AuditEntry.objects.exists()


def test_an_alert_area_cannot_also_be_excluded(country, author_client):
    data = compose_data(areas=[country["kabul"].pk], excluded_areas=[country["kabul"].pk])
    response = author_client.post(reverse("console:alert-new"), data)
    assert "untick it there instead" in response.content.decode()
    assert not Alert.objects.exists()


def test_composing_with_an_excluded_region_saves_it_audits_it_and_counts_without_it(country, author_client):
    data = compose_data(is_test="live", areas=[country["country"].pk], excluded_areas=[country["nimruz"].pk])
    response = author_client.post(reverse("console:alert-new"), data)
    assert response.status_code == 302
    alert = Alert.objects.get(title="Curfew tonight")
    assert list(alert.excluded_areas.all()) == [country["nimruz"]]
    entry = AuditEntry.objects.get(action="create_alert")
    assert entry.after["excluded_areas"] == [country["nimruz"].pk]
    page = author_client.get(response["Location"]).content.decode()
    assert "Afghanistan, except Nimruz" in page
    assert '<dd id="aud-excluded">Nimruz</dd>' in page
    assert '<dd id="aud-citizens">2</dd>' in page
    history = author_client.get(reverse("console:history")).content.decode()
    assert '<dd class="excluded-areas">Nimruz</dd>' in history


def test_raising_a_country_drafts_an_alert_that_excludes_regions_with_their_own_level(country, author, author_client):
    AlertTemplate.objects.create(
        level=4, language="en", sms_text="{area}: level {level}.", email_subject="s", email_body="b"
    )
    response = author_client.post(
        reverse("console:change-level", args=[country["country"].pk]), {"level": "4", "reason": "The capital fell"}
    )
    change = LevelChange.objects.get(area=country["country"])
    alert = change.drafted_alert
    # Nimruz is at 4 already and Kabul inherits: both are in; Herat keeps its own level 2.
    assert list(alert.excluded_areas.all()) == [country["herat"]]
    assert AuditEntry.objects.get(action="change_level").after["drafted_alert_excluded_areas"] == [country["herat"].pk]
    page = author_client.get(response["Location"]).content.decode()
    assert "Afghanistan, except Herat" in page
    assert f'name="excluded_areas" value="{country["herat"].pk}" id="id_excluded_areas_' in page
    herat_box = page.split(f'name="excluded_areas" value="{country["herat"].pk}"', 1)[1].split(">", 1)[0]
    assert "checked" in herat_box


def test_without_a_template_the_compose_page_starts_with_those_regions_excluded(country, author_client):
    response = author_client.post(
        reverse("console:change-level", args=[country["country"].pk]), {"level": "4", "reason": "The capital fell"}
    )
    assert response["Location"].endswith(f"?area={country['country'].pk}&exclude=own-levels")
    page = author_client.get(response["Location"]).content.decode()
    herat_box = page.split(f'name="excluded_areas" value="{country["herat"].pk}"', 1)[1].split(">", 1)[0]
    nimruz_box = page.split(f'name="excluded_areas" value="{country["nimruz"].pk}"', 1)[1].split(">", 1)[0]
    assert "checked" in herat_box and "checked" not in nimruz_box
    plain = author_client.get(reverse("console:alert-new") + f"?area={country['country'].pk}").content.decode()
    assert "checked" not in plain.split(f'name="excluded_areas" value="{country["herat"].pk}"', 1)[1].split(">", 1)[0]
