"""The Django admin reads and shows times in the post's zone (EMBASSY_TIME_ZONE), as the
console does, and says which zone once on its pages; what is stored stays UTC."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from alerts.models import Alert
from tests.factories import AlertFactory

pytestmark = pytest.mark.django_db
UTC = datetime.UTC
ZONE_NOTE = "All times are in Kabul time (UTC+04:30)"
# 13:30 UTC on the day Kabul fell is 18:00 in Kabul.
FALL_OF_KABUL = datetime.datetime(2021, 8, 15, 13, 30, tzinfo=UTC)


@pytest.fixture
def kabul_time(settings):  # type: ignore[no-untyped-def]
    settings.EMBASSY_TIME_ZONE = "Asia/Kabul"


def test_the_admin_shows_a_stored_utc_time_in_kabul_time_and_says_so_once(kabul_time, admin_client):
    alert = AlertFactory(title="Leave by the northern road")
    Alert.objects.filter(pk=alert.pk).update(created_at=FALL_OF_KABUL, approved_at=FALL_OF_KABUL)

    listing = admin_client.get("/admin/alerts/alert/").content.decode()
    assert "Aug. 15, 2021, 6 p.m." in listing and "1:30 p.m." not in listing
    assert listing.count(ZONE_NOTE) == 1
    assert 'title="Asia/Kabul"' in listing

    record = admin_client.get(f"/admin/alerts/alert/{alert.pk}/change/").content.decode()
    assert "Aug. 15, 2021, 6 p.m." in record and "1:30 p.m." not in record
    assert record.count(ZONE_NOTE) == 1
    # The admin's "Now" and calendar shortcuts compare the browser's offset with this one.
    assert 'data-admin-utc-offset="16200"' in record


def test_the_admin_reads_a_typed_time_as_kabul_time(kabul_time, admin_client, admin_user):
    page = admin_client.get(f"/admin/auth/user/{admin_user.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "password"}
    data.update(
        {
            "groups": [],
            "user_permissions": [],
            "date_joined_0": "2021-08-15",
            "date_joined_1": "18:00:00",
            "last_login_0": "",
            "last_login_1": "",
        }
    )
    for flag in ("is_active", "is_staff", "is_superuser"):
        if not data.get(flag):
            data.pop(flag, None)
    response = admin_client.post(f"/admin/auth/user/{admin_user.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    admin_user.refresh_from_db()
    assert admin_user.date_joined == FALL_OF_KABUL

    again = admin_client.get(f"/admin/auth/user/{admin_user.pk}/change/").content.decode()
    assert 'value="18:00:00"' in again


def test_without_a_post_zone_the_admin_says_utc(admin_client):
    alert = AlertFactory()
    Alert.objects.filter(pk=alert.pk).update(created_at=FALL_OF_KABUL)
    page = admin_client.get("/admin/alerts/alert/").content.decode()
    assert "All times are in UTC" in page and "1:30 p.m." in page


def test_the_zone_is_not_left_on_after_an_admin_page(kabul_time, admin_client):
    admin_client.get("/admin/")
    assert timezone.get_current_timezone_name() == "UTC"
