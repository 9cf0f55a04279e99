"""Advisory levels: per country and region, inherited, every change recorded and drafted."""

from __future__ import annotations

import pytest

from alerts.errors import LevelError
from alerts.models import Alert, Area, LevelChange
from alerts.services.areas import change_advisory_level
from tests.factories import AlertTemplateFactory
from tests.pipeline.conftest import present

pytestmark = pytest.mark.django_db


def test_a_region_inherits_its_countrys_level_until_set(afghanistan: Area, kabul: Area, author) -> None:
    assert kabul.effective_level == 2
    change_advisory_level(afghanistan, 3, by=author, reason="fighting near the capital")
    kabul.refresh_from_db()
    assert kabul.level is None and kabul.effective_level == 3
    change_advisory_level(kabul, 4, by=author, reason="airport closing")
    kabul.refresh_from_db()
    assert kabul.effective_level == 4
    change_advisory_level(kabul, None, by=author, reason="back to the national level")
    kabul.refresh_from_db()
    assert kabul.level is None and kabul.effective_level == 3


def test_every_change_is_recorded_with_who_when_old_new_and_why(afghanistan: Area, author) -> None:
    change = change_advisory_level(afghanistan, 4, by=author, reason="evacuation ordered")
    stored = LevelChange.objects.get(pk=change.pk)
    assert (stored.old_level, stored.new_level, stored.reason, stored.changed_by) == (
        2,
        4,
        "evacuation ordered",
        author,
    )
    assert stored.changed_at is not None
    afghanistan.refresh_from_db()
    assert afghanistan.level == 4 and afghanistan.level_changed_at is not None


@pytest.mark.parametrize(
    ("level", "reason", "message"),
    [(7, "why", "Unknown advisory level"), (3, "  ", "Say why"), (2, "same", "already at this level")],
)
def test_bad_changes_are_refused_and_nothing_saved(afghanistan: Area, author, level, reason, message) -> None:
    with pytest.raises(LevelError, match=message):
        change_advisory_level(afghanistan, level, by=author, reason=reason)
    assert not LevelChange.objects.exists()
    afghanistan.refresh_from_db()
    assert afghanistan.level == 2


def test_a_country_cannot_inherit(afghanistan: Area, author) -> None:
    with pytest.raises(LevelError, match="always has a level"):
        change_advisory_level(afghanistan, None, by=author, reason="x")


def test_a_level_change_drafts_an_alert_from_the_templates_awaiting_approval(afghanistan, kabul, author) -> None:
    AlertTemplateFactory(level=4, language="en")
    AlertTemplateFactory(level=4, language="fa", sms_text="{name} {area} {level}", email_subject="{area}")
    present("AF-KAB")
    present("AF-HER")
    present("", country="PK")
    change = change_advisory_level(afghanistan, 4, by=author, reason="evacuation")
    alert = change.drafted_alert
    assert alert is not None
    assert alert.state == Alert.State.AWAITING_APPROVAL and not alert.is_test
    assert list(alert.areas.all()) == [afghanistan]
    assert alert.advisory_level == 4 and alert.severity == Alert.Severity.EXTREME
    en = alert.texts.get(language="en")
    assert en.sms_text == "{name}: Afghanistan is now level 4 (Do not travel). {checkin_words}"
    assert {t.language for t in alert.texts.all()} == {"en", "fa"}
    assert alert.audience_summary["citizens"] == 2  # everyone present in the country, not Pakistan


def test_no_template_no_draft(afghanistan, author) -> None:
    change = change_advisory_level(afghanistan, 3, by=author, reason="x")
    assert change.drafted_alert is None
    assert not Alert.objects.exists()
