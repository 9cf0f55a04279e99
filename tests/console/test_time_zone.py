"""Staff read and type times in the post's own zone (EMBASSY_TIME_ZONE), and every console
page says which zone that is; what is stored and what citizens get stays UTC."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from alerts.models import Alert, AlertText, AuditEntry, CheckIn, InboundMessage
from alerts.services.alerts import expiry_problem
from alerts.timezones import utc_offset, zone_label
from registrations.models import Presence
from tests.console.test_alert_pages import compose_data, live_alert
from tests.factories import AlertFactory, AreaFactory, CheckInFactory, CitizenFactory, PresenceFactory

pytestmark = pytest.mark.django_db
S = Alert.State
UTC = datetime.UTC
KABUL = ZoneInfo("Asia/Kabul")
ZONE_NOTE = "All times are in Kabul time (UTC+04:30)"
# 13:30 UTC on the day Kabul fell is 18:00 in Kabul.
FALL_OF_KABUL = datetime.datetime(2021, 8, 15, 13, 30, tzinfo=UTC)


@pytest.fixture
def kabul_time(settings):  # type: ignore[no-untyped-def]
    settings.EMBASSY_TIME_ZONE = "Asia/Kabul"


@pytest.fixture
def kabul():  # type: ignore[no-untyped-def]
    region = AreaFactory(country="AF", region="AF-KAB", name="Kabul", level=3)
    PresenceFactory(citizen=CitizenFactory())
    return region


def test_the_zone_is_named_for_staff():
    assert zone_label(KABUL, FALL_OF_KABUL) == "Kabul time (UTC+04:30)"
    assert zone_label(ZoneInfo("UTC"), FALL_OF_KABUL) == "UTC"
    assert zone_label(ZoneInfo("America/Argentina/Buenos_Aires"), FALL_OF_KABUL) == "Buenos Aires time (UTC-03:00)"
    assert zone_label(ZoneInfo("Etc/GMT-5"), FALL_OF_KABUL) == "UTC+05:00"
    london = ZoneInfo("Europe/London")  # the offset is the one of the moment shown
    assert utc_offset(FALL_OF_KABUL, london) == "UTC+01:00"
    assert utc_offset(datetime.datetime(2021, 1, 15, tzinfo=UTC), london) == "UTC"
    with translation.override("fa"):  # Dari words; the Latin parts kept whole in right-to-left text
        assert zone_label(KABUL, FALL_OF_KABUL) == "وقت \u2068Kabul\u2069 (\u2068UTC+04:30\u2069)"
        with timezone.override(KABUL):
            assert "(\u20682021-08-15 18:00 UTC+04:30\u2069)" in expiry_problem(FALL_OF_KABUL)


def test_the_audit_trail_shows_a_stored_utc_time_in_kabul_time_and_says_so(kabul_time, author, author_client):
    entry = AuditEntry.objects.create(actor=author, actor_username=author.username, action="change_level")
    AuditEntry.objects.filter(pk=entry.pk).update(created_at=FALL_OF_KABUL)
    page = author_client.get(reverse("console:audit")).content.decode()
    assert "2021-08-15 18:00:00" in page and "2021-08-15 13:30:00" not in page
    assert 'datetime="2021-08-15T18:00:00+04:30"' in page
    assert "When (UTC+04:30)" in page
    assert page.count(ZONE_NOTE) == 1
    assert 'title="Asia/Kabul"' in page


def test_the_audit_filter_reads_its_dates_as_kabul_days(kabul_time, author, author_client):
    entry = AuditEntry.objects.create(actor=author, actor_username=author.username, action="change_level")
    # 20:00 UTC on the 15th is already the 16th in Kabul.
    AuditEntry.objects.filter(pk=entry.pk).update(created_at=datetime.datetime(2021, 8, 15, 20, 0, tzinfo=UTC))
    on_the_16th = author_client.get(reverse("console:audit"), {"since": "2021-08-16", "until": "2021-08-16"})
    assert "2021-08-16 00:30:00" in on_the_16th.content.decode()
    on_the_15th = author_client.get(reverse("console:audit"), {"since": "2021-08-15", "until": "2021-08-15"})
    assert "No entries match." in on_the_15th.content.decode()


def test_the_alert_history_shows_when_alerts_were_made_and_approved_in_kabul_time(
    kabul_time, author, approver, author_client
):
    alert = AlertFactory(created_by=author, title="Leave by the northern road")
    Alert.objects.filter(pk=alert.pk).update(
        created_at=FALL_OF_KABUL, approved_by=approver, approved_at=FALL_OF_KABUL + datetime.timedelta(minutes=20)
    )
    page = author_client.get(reverse("console:history")).content.decode()
    assert "2021-08-15 18:00" in page and "2021-08-15 18:20" in page
    assert "13:30" not in page and " UTC</p>" not in page
    assert page.count(ZONE_NOTE) == 1


def test_the_messages_and_the_board_show_kabul_time(kabul_time, kabul, author, author_client):
    citizen = CitizenFactory()
    PresenceFactory(citizen=citizen)
    message = InboundMessage.objects.create(
        provider_message_id="SM-tz", citizen=citizen, from_number=citizen.phone, to_number="+15005550000", body="help"
    )
    InboundMessage.objects.filter(pk=message.pk).update(received_at=FALL_OF_KABUL, kind=InboundMessage.Kind.OTHER)
    inbox = author_client.get(reverse("console:inbox")).content.decode()
    assert "2021-08-15 18:00" in inbox and ZONE_NOTE in inbox

    check_in = CheckInFactory(citizen=citizen, status=CheckIn.Status.NEEDS_ASSISTANCE)
    CheckIn.objects.filter(pk=check_in.pk).update(created_at=FALL_OF_KABUL)
    board = author_client.get(reverse("console:board", args=[kabul.pk]), {"list": "needs_assistance"}).content.decode()
    assert 'title="2021-08-15 18:00"' in board and ZONE_NOTE in board
    csv = author_client.get(reverse("console:board-csv", args=[kabul.pk]), {"list": "needs_assistance"})
    assert "2021-08-15T18:00:00+04:30" in csv.content.decode()


def test_the_board_counts_answers_since_kabul_midnight(kabul_time, kabul, author_client):
    citizen = CitizenFactory()
    PresenceFactory(citizen=citizen)
    check_in = CheckInFactory(citizen=citizen, status=CheckIn.Status.SAFE)
    # 20:00 UTC on the 15th: after midnight of the 16th in Kabul.
    CheckIn.objects.filter(pk=check_in.pk).update(created_at=datetime.datetime(2021, 8, 15, 20, 0, tzinfo=UTC))
    page = author_client.get(reverse("console:board", args=[kabul.pk]), {"since": "2021-08-16"})
    assert page.context["tally"].citizens_with(CheckIn.Status.SAFE.value) == 1
    # Asking those with no answer since then records the instant in UTC, like the database.
    author_client.post(reverse("console:follow-up", args=[kabul.pk]) + "?since=2021-08-16")
    assert AuditEntry.objects.get(action="draft_follow_up").after["since"] == "2021-08-15T19:30:00+00:00"


def test_the_alert_form_reads_a_typed_expiry_as_kabul_time(kabul_time, kabul, author_client):
    form_page = author_client.get(reverse("console:alert-new")).content.decode()
    assert "In Kabul time (UTC+04:30). Nothing of the alert is sent after this time" in form_page

    response = author_client.post(
        reverse("console:alert-new"), compose_data(areas=[kabul.pk], expires_at="2031-08-15T18:00")
    )
    assert response.status_code == 302
    alert = Alert.objects.get()
    assert alert.expires_at == datetime.datetime(2031, 8, 15, 13, 30, tzinfo=UTC)
    # Opened again, the form shows what was typed.
    again = author_client.get(reverse("console:alert", args=[alert.pk])).content.decode()
    assert 'value="2031-08-15T18:00"' in again


def test_without_a_post_zone_the_console_stays_in_utc(kabul, author_client):
    form_page = author_client.get(reverse("console:alert-new")).content.decode()
    assert "All times are in UTC" in form_page and "In UTC. Nothing of the alert is sent" in form_page
    author_client.post(reverse("console:alert-new"), compose_data(areas=[kabul.pk], expires_at="2031-08-15T18:00"))
    assert Alert.objects.get().expires_at == datetime.datetime(2031, 8, 15, 18, 0, tzinfo=UTC)


def test_an_expiry_that_has_passed_is_named_in_kabul_time(kabul_time, kabul, author, author_client):
    with timezone.override(KABUL):
        assert expiry_problem(FALL_OF_KABUL, now=FALL_OF_KABUL + datetime.timedelta(hours=1)) == (
            "The expiry time (2021-08-15 18:00 UTC+04:30) has passed: set a later one, or leave it empty."
        )
    assert "(2021-08-15 13:30 UTC)" in expiry_problem(FALL_OF_KABUL)  # UTC where nothing else is active

    past = timezone.now() - datetime.timedelta(hours=1)
    typed = timezone.localtime(past, KABUL).strftime("%Y-%m-%dT%H:%M")
    response = author_client.post(reverse("console:alert-new"), compose_data(areas=[kabul.pk], expires_at=typed))
    shown = timezone.localtime(past, KABUL).strftime("%Y-%m-%d %H:%M")
    assert f"The expiry time ({shown} UTC+04:30) has passed" in response.content.decode()
    assert not Alert.objects.exists()

    # The same words on the detail page of a draft whose stored expiry has passed.
    alert = live_alert(author, [kabul], state=S.DRAFT)
    Alert.objects.filter(pk=alert.pk).update(expires_at=FALL_OF_KABUL)
    page = author_client.get(reverse("console:alert", args=[alert.pk])).content.decode()
    assert "The expiry time (2021-08-15 18:00 UTC+04:30) has passed" in page


def test_what_an_expiry_did_is_told_in_kabul_time(kabul_time, kabul, author, approver, author_client):
    alert = AlertFactory(created_by=author, live=True, state=S.ABORTED, approved_by=approver)
    AlertText.objects.create(alert=alert, language="en", sms_text="Go.", email_subject="Go", email_body="Go.")
    Alert.objects.filter(pk=alert.pk).update(
        expires_at=FALL_OF_KABUL, aborted_at=FALL_OF_KABUL + datetime.timedelta(seconds=5)
    )
    words = "Nothing was sent: the alert expired (2021-08-15 18:00 UTC+04:30) before sending started."
    progress = author_client.get(reverse("console:alert-progress", args=[alert.pk])).content.decode()
    assert words in progress and ZONE_NOTE in progress


def test_the_zone_is_only_on_for_the_console(kabul_time, author_client):
    author_client.get(reverse("console:history"))
    assert timezone.get_current_timezone_name() == "UTC"  # nothing left switched on after the request
    page = author_client.get(reverse("registrations:register")).content.decode()
    assert ZONE_NOTE not in page


def test_who_an_alert_reaches_does_not_depend_on_the_consoles_zone(kabul_time, monkeypatch):
    """At 21:00 UTC on the 15th it is already the 16th in Kabul; presences still hold by
    the UTC date, as in the workers' fan-out, so the approver's count is what is sent."""
    monkeypatch.setattr(timezone, "now", lambda: datetime.datetime(2021, 8, 15, 21, 0, tzinfo=UTC))
    left = PresenceFactory(departure_date=datetime.date(2021, 8, 15))
    arriving = PresenceFactory(arrival_date=datetime.date(2021, 8, 16))
    in_utc = set(Presence.objects.current().values_list("pk", flat=True))
    with timezone.override(KABUL):
        in_kabul = set(Presence.objects.current().values_list("pk", flat=True))
    assert in_utc == in_kabul
    assert left.pk in in_kabul and arriving.pk not in in_kabul


def test_the_progress_page_says_when_the_alert_was_approved_and_finished_in_kabul_time(
    kabul_time, kabul, author, approver, author_client
):
    alert = live_alert(author, [kabul], state=S.SENDING)
    Alert.objects.filter(pk=alert.pk).update(approved_by=approver, approved_at=FALL_OF_KABUL)
    page = author_client.get(reverse("console:alert-progress", args=[alert.pk])).content.decode()
    assert '<time datetime="2021-08-15T18:00:00+04:30">2021-08-15 18:00</time> by bilal.approver' in page
    assert '<dd class="finished-at"><time id="finished-at">not yet</time></dd>' in page
    assert author_client.get(reverse("console:alert-progress-json", args=[alert.pk])).json()["finished_at"] is None

    finished = FALL_OF_KABUL + datetime.timedelta(minutes=42)
    Alert.objects.filter(pk=alert.pk).update(state=S.SENT, finished_at=finished)
    page = author_client.get(reverse("console:alert-progress", args=[alert.pk])).content.decode()
    assert '<time id="finished-at" datetime="2021-08-15T18:42:00+04:30">2021-08-15 18:42</time>' in page
    assert page.count(ZONE_NOTE) == 1
    data = author_client.get(reverse("console:alert-progress-json", args=[alert.pk])).json()
    assert (data["finished_at"], data["finished_at_iso"]) == ("2021-08-15 18:42", "2021-08-15T18:42:00+04:30")
