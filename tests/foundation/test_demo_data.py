from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from alerts.models import Alert, AlertTemplate, Area, CheckIn, LevelChange
from registrations.models import Citizen, Presence

pytestmark = pytest.mark.django_db


@override_settings(DEBUG=True)
def test_demo_data_tells_the_august_2021_story_and_loads_once():
    call_command("load_demo_data")
    country = Area.objects.get(country="AF", region="")
    assert country.level == 3
    assert Area.objects.get(region="AF-NIM").effective_level == 4
    assert Area.objects.get(region="AF-JOW").effective_level == 4
    assert Area.objects.get(region="AF-KAB").effective_level == 3  # inherits the country
    assert LevelChange.objects.filter(area__region="AF-NIM", new_level=4).exists()
    assert Presence.objects.filter(region="AF-KAB").count() >= 50
    assert AlertTemplate.objects.filter(level=4, language="fa").exists()
    assert CheckIn.objects.filter(status=CheckIn.Status.NEEDS_ASSISTANCE).exists()
    # The Dari texts name the places in Dari.
    assert Area.objects.get(region="AF-JOW").name_in("fa") == "جوزجان"
    assert country.name_in("fa") == "افغانستان" and country.name_in("ps") == "Afghanistan"
    citizens = Citizen.objects.count()
    call_command("load_demo_data")
    assert Citizen.objects.count() == citizens


@override_settings(DEBUG=True)
def test_the_demo_alert_was_made_before_it_was_approved_and_sent():
    call_command("load_demo_data")
    alert = Alert.objects.get(title__startswith="Nimruz: leave now")
    assert alert.created_at < alert.approved_at <= alert.started_at < alert.finished_at


def test_demo_data_refuses_to_load_with_debug_off():
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("load_demo_data")
    assert not Citizen.objects.exists()
