"""The audit trail shows the times inside an entry's before and after in the post's zone,
in the page's format, as it shows when the entry was made; the entry keeps UTC."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from alerts.console.audit import shown_in_post_zone
from alerts.models import AuditEntry
from tests.console.test_alert_pages import compose_data
from tests.factories import AreaFactory

pytestmark = pytest.mark.django_db
KABUL = ZoneInfo("Asia/Kabul")


@pytest.fixture
def kabul_time(settings):  # type: ignore[no-untyped-def]
    settings.EMBASSY_TIME_ZONE = "Asia/Kabul"


def test_a_typed_expiry_reads_in_kabul_time_in_the_audit_trail_and_is_kept_in_utc(kabul_time, author_client):
    kabul = AreaFactory(country="AF", region="AF-KAB", name="Kabul")
    response = author_client.post(
        reverse("console:alert-new"), compose_data(areas=[kabul.pk], expires_at="2031-08-15T18:00")
    )
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action="create_alert")
    assert entry.after["expires_at"] == "2031-08-15T13:30:00+00:00"  # stored as before: UTC

    page = author_client.get(reverse("console:audit")).content.decode()
    assert "&#x27;expires_at&#x27;: &#x27;2031-08-15 18:00:00&#x27;" in page
    assert "2031-08-15T13:30:00+00:00" not in page
    entry.refresh_from_db()
    assert entry.after["expires_at"] == "2031-08-15T13:30:00+00:00"


def test_without_a_post_zone_the_audit_trail_shows_the_same_format_in_utc(author, author_client):
    AuditEntry.objects.create(
        actor=author,
        actor_username=author.username,
        action="draft_follow_up",
        before={"since": "2021-08-15T19:30:00+00:00"},
        after={"since": "2021-08-15T19:30:00+00:00"},
    )
    page = author_client.get(reverse("console:audit")).content.decode()
    assert page.count("&#x27;since&#x27;: &#x27;2021-08-15 19:30:00&#x27;") == 2
    assert "2021-08-15T19:30:00+00:00" not in page


def test_only_stored_moments_are_turned_into_the_zone():
    stored = {
        "expires_at": "2021-08-15T13:30:00.123456+00:00",
        "approved_at": "2021-08-15T13:30:00Z",
        "elsewhere": "2021-08-15T15:30:00+02:00",
        "arrival_date": "2021-08-15",  # a date has no zone: shown as it is
        "naive": "2021-08-15T13:30:00",  # no offset: nothing to convert from
        "title": "Leave before 2021-08-15T13:30:00+00:00",  # words, not a stored time
        "nested": {"texts": [{"sent_at": "2021-08-15T20:00:00+00:00"}]},
        "count": 3,
        "flag": None,
    }
    with timezone.override(KABUL):
        shown = shown_in_post_zone(stored)
    assert shown == {
        "expires_at": "2021-08-15 18:00:00",
        "approved_at": "2021-08-15 18:00:00",
        "elsewhere": "2021-08-15 18:00:00",
        "arrival_date": "2021-08-15",
        "naive": "2021-08-15T13:30:00",
        "title": "Leave before 2021-08-15T13:30:00+00:00",
        "nested": {"texts": [{"sent_at": "2021-08-16 00:30:00"}]},
        "count": 3,
        "flag": None,
    }
    assert stored["expires_at"] == "2021-08-15T13:30:00.123456+00:00"  # not changed in place
    assert shown_in_post_zone(None) is None
    assert shown_in_post_zone("2021-08-15T13:30:00+00:00") == "2021-08-15 13:30:00"  # UTC by default
