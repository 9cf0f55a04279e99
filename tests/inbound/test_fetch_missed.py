"""Inbound SMS refused while we were down are fetched from Twilio later.

The real path: the twilio SDK lists messages at the loopback stub, which holds inbound
messages "as if Twilio received them while our webhook was down"; PostgreSQL records
them through the webhook's own service. Nothing is patched out but the page size.
"""

from __future__ import annotations

import datetime
import logging
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from twilio.http.http_client import TwilioHttpClient

from alerts import tasks
from alerts.channels import OutgoingMessage, get_channel
from alerts.console.permissions import Role
from alerts.console.queries import board_tally
from alerts.models import ChannelPause, CheckIn, InboundFetchCursor, InboundMessage
from alerts.services import missed_inbound, pauses
from alerts.services.checkins import record_check_in
from alerts.services.missed_inbound import fetch_missed_inbound_sms
from registrations.erasure import erase_citizen
from registrations.models import Citizen
from tests.console.conftest import make_staff, sign_in
from tests.factories import AreaFactory, CitizenFactory, PresenceFactory
from tests.fixtures.provider_stub import STUB_FROM_NUMBER
from tests.inbound.helpers import text_us
from tests.webhooks.helpers import TWILIO_TOKEN

pytestmark = pytest.mark.django_db

OURS = STUB_FROM_NUMBER  # the number citizens text (TWILIO_FROM_NUMBER)
NEED = CheckIn.Status.NEEDS_ASSISTANCE
SAFE = CheckIn.Status.SAFE


@pytest.fixture
def twilio(stub_providers, settings):  # type: ignore[no-untyped-def]
    """The SDK pointed at the stub; the webhook still verifies the test's signatures; a
    cursor left by the last look before the outage, 30 minutes ago."""
    settings.TWILIO_AUTH_TOKEN_SECONDARY = TWILIO_TOKEN  # text_us signs with it
    settings.TWILIO_INBOUND_NUMBERS = []  # TWILIO_FROM_NUMBER, as a deployment without a service's list
    settings.INBOUND_FETCH_OVERLAP_SECONDS = 600
    settings.INBOUND_FETCH_MAX_AGE_HOURS = 72
    settings.INBOUND_FETCH_MAX_PER_RUN = 2000
    pauses.reset()
    InboundFetchCursor.objects.create(number=OURS, fetched_through=ago(minutes=30))
    yield stub_providers
    pauses.reset()


def ago(**delta: float) -> datetime.datetime:
    return timezone.now() - datetime.timedelta(**delta)


def sid(n: int) -> str:
    return f"SM{n:032x}"


def replies_to(stub, number: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [r["body"] for r in stub.received("sms") if r["to"] == [number]]


def fetch(capture) -> missed_inbound.FetchReport:  # type: ignore[no-untyped-def]
    """One run, with what it queues after commit (late replies) sent at once to the stub."""
    with capture(execute=True):
        return fetch_missed_inbound_sms()


def status_of(citizen: Citizen) -> str | None:
    latest = CheckIn.objects.filter(citizen=citizen).order_by("-created_at", "-id").first()
    return latest.status if latest else None


# --- the evacuation case ------------------------------------------------------------------


def test_a_need_sent_while_we_were_down_is_recorded_and_shows_on_the_board(
    twilio, caplog, django_capture_on_commit_callbacks
) -> None:
    kabul = AreaFactory(country="AF", region="AF-KAB", name="Kabul", level=4, level_changed_at=timezone.now())
    sara = CitizenFactory(full_name="Sara Ahmadi")
    PresenceFactory(citizen=sara)
    sent = ago(minutes=20)
    twilio.receive_sms(sara.phone, OURS, "NEED", sent_at=sent)
    staff = sign_in(Client(), make_staff(Role.AUTHOR, device=False), verified=False)
    board = reverse("console:board", args=[kabul.pk])
    assert "Sara Ahmadi" not in staff.get(board, {"list": "needs_assistance"}).content.decode()

    with caplog.at_level(logging.INFO), django_capture_on_commit_callbacks(execute=True):
        recorded = tasks.fetch_missed_inbound_sms()  # what beat runs

    assert recorded == 1
    check_in = CheckIn.objects.get(citizen=sara)
    assert check_in.status == NEED and check_in.source == CheckIn.Source.SMS
    assert abs(check_in.created_at - sent) < datetime.timedelta(seconds=1)  # when she said it, to the second
    message = InboundMessage.objects.get()
    assert message.fetched_at is not None and message.citizen == sara
    assert board_tally(kabul).citizens_with(NEED) == 1
    page = staff.get(board, {"list": "needs_assistance"}).content.decode()
    assert "Sara Ahmadi" in page and sara.phone in page
    # She is told, late, what the webhook would have answered.
    assert any("need assistance" in body for body in replies_to(twilio, sara.phone))
    # The cursor moved on; the log says what happened without her number.
    assert InboundFetchCursor.objects.get(number=OURS).fetched_through > sent
    assert "1 recorded that the webhook missed" in caplog.text
    assert sara.phone not in caplog.text and sara.phone[1:] not in caplog.text


def test_a_message_got_by_the_webhook_and_by_the_fetch_is_recorded_once(
    twilio, client, django_capture_on_commit_callbacks
) -> None:
    citizen = CitizenFactory()
    code, reply = text_us(client, citizen.phone, "NEED", sid=sid(1))
    assert code == 200 and "need assistance" in reply
    twilio.receive_sms(citizen.phone, OURS, "NEED", sent_at=ago(seconds=30), sid=sid(1))

    report = fetch(django_capture_on_commit_callbacks)

    assert (report.recorded, report.already) == (0, 1)
    assert InboundMessage.objects.count() == 1 and CheckIn.objects.count() == 1
    assert replies_to(twilio, citizen.phone) == []  # answered once, by the webhook


def test_a_message_fetched_first_and_then_posted_by_the_webhook_is_recorded_once(twilio, client) -> None:
    citizen = CitizenFactory()
    twilio.receive_sms(citizen.phone, OURS, "SAFE", sent_at=ago(minutes=3), sid=sid(2))
    assert fetch_missed_inbound_sms().recorded == 1

    code, reply = text_us(client, citizen.phone, "SAFE", sid=sid(2))  # Twilio's late retry

    assert code == 200 and "safe" in reply
    assert InboundMessage.objects.count() == 1 and CheckIn.objects.count() == 1
    assert fetch_missed_inbound_sms().already == 1  # and the next run leaves it alone


def test_a_second_run_records_nothing_again(twilio, django_capture_on_commit_callbacks) -> None:
    citizen = CitizenFactory()
    twilio.receive_sms(citizen.phone, OURS, "LEFT", sent_at=ago(minutes=5))
    assert fetch(django_capture_on_commit_callbacks).recorded == 1

    again = fetch(django_capture_on_commit_callbacks)  # the overlap lists it again

    assert (again.recorded, again.already) == (0, 1)
    assert CheckIn.objects.count() == 1 and len(replies_to(twilio, citizen.phone)) == 1


# --- opt-out -------------------------------------------------------------------------------


def test_a_stop_fetched_later_opts_the_number_out(twilio, django_capture_on_commit_callbacks) -> None:
    citizen = CitizenFactory()
    twin = CitizenFactory(phone=citizen.phone, unverified=True)
    sent = ago(minutes=12)
    twilio.receive_sms(citizen.phone, OURS, "Stop", sent_at=sent)

    fetch(django_capture_on_commit_callbacks)

    for person in (citizen, twin):
        person.refresh_from_db()
        assert person.phone_opted_out_at is not None
        assert abs(person.phone_opted_out_at - sent) < datetime.timedelta(seconds=1)
    assert InboundMessage.objects.get().kind == InboundMessage.Kind.OPT_OUT
    assert replies_to(twilio, citizen.phone) == []  # Twilio confirms STOP itself


def test_a_stop_overtaken_by_a_start_recorded_since_does_not_opt_out(twilio, client) -> None:
    citizen = CitizenFactory()
    twilio.receive_sms(citizen.phone, OURS, "STOP", sent_at=ago(minutes=10))
    text_us(client, citizen.phone, "START")  # by the webhook, once we were back

    fetch_missed_inbound_sms()

    citizen.refresh_from_db()
    assert citizen.phone_opted_out_at is None  # as Twilio has it: the START came last
    assert InboundMessage.objects.filter(kind=InboundMessage.Kind.OPT_OUT).count() == 1  # kept, not acted on


def test_a_start_fetched_later_does_not_undo_a_stop_recorded_since(
    twilio, client, django_capture_on_commit_callbacks
) -> None:
    citizen = CitizenFactory()
    twilio.receive_sms(citizen.phone, OURS, "START", sent_at=ago(minutes=10))
    text_us(client, citizen.phone, "STOP")

    fetch(django_capture_on_commit_callbacks)

    citizen.refresh_from_db()
    assert citizen.phone_opted_out_at is not None  # opt-out wins
    assert replies_to(twilio, citizen.phone) == []  # no "you will receive alerts again"


# --- order --------------------------------------------------------------------------------


def test_safe_then_need_fetched_together_ends_need(twilio) -> None:
    citizen = CitizenFactory()
    # Put in the stub newest first, so that the order Twilio lists is not the order stored.
    twilio.receive_sms(citizen.phone, OURS, "NEED", sent_at=ago(minutes=15))
    twilio.receive_sms(citizen.phone, OURS, "SAFE", sent_at=ago(minutes=20))

    fetch_missed_inbound_sms()

    assert list(CheckIn.objects.filter(citizen=citizen).order_by("id").values_list("status", flat=True)) == [
        SAFE,
        NEED,
    ]
    assert status_of(citizen) == NEED


def test_an_older_fetched_need_does_not_overwrite_a_safe_recorded_since(twilio) -> None:
    citizen = CitizenFactory()
    twilio.receive_sms(citizen.phone, OURS, "NEED", sent_at=ago(minutes=20))
    record_check_in(citizen, SAFE, source=CheckIn.Source.LINK)  # by the email link, once we were back

    fetch_missed_inbound_sms()

    assert CheckIn.objects.filter(citizen=citizen).count() == 2
    assert status_of(citizen) == SAFE


# --- paging and the bound -------------------------------------------------------------------


def test_it_follows_twilio_s_pages(twilio, monkeypatch) -> None:
    monkeypatch.setattr(missed_inbound, "PAGE_SIZE", 3)
    asked: list[dict] = []
    request = TwilioHttpClient.request

    def spy(self, method, url, params=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        if method.upper() == "GET" and "/Messages.json" in url:
            # The first page's filters come as params; the next pages' in next_page_uri.
            asked.append({**dict(parse_qsl(urlsplit(url).query)), **dict(params or {})})
        return request(self, method, url, params, *args, **kwargs)

    monkeypatch.setattr(TwilioHttpClient, "request", spy)
    people = [CitizenFactory() for _ in range(8)]
    for minutes, person in enumerate(people, start=1):
        twilio.receive_sms(person.phone, OURS, "SAFE", sent_at=ago(minutes=minutes))

    report = fetch_missed_inbound_sms()

    assert report.recorded == 8
    assert CheckIn.objects.filter(status=SAFE).count() == 8
    assert len(asked) == 3  # 3 + 3 + 2, following next_page_uri
    assert asked[0]["To"] == OURS and "DateSent>" in asked[0] and str(asked[0]["PageSize"]) == "3"
    assert [a.get("Page") for a in asked[1:]] == ["1", "2"]
    assert all(a["To"] == OURS and a["DateSent>"] == asked[0]["DateSent>"] for a in asked[1:])


def test_a_run_takes_at_most_its_bound_and_the_next_runs_take_the_rest(twilio, settings) -> None:
    settings.INBOUND_FETCH_MAX_PER_RUN = 5
    settings.INBOUND_FETCH_OVERLAP_SECONDS = 60  # once caught up, the overlap holds none of them
    people = [CitizenFactory() for _ in range(12)]
    for minutes, person in enumerate(people, start=2):
        twilio.receive_sms(person.phone, OURS, "NEED", sent_at=ago(minutes=minutes))
    before = InboundFetchCursor.objects.get().fetched_through

    first = fetch_missed_inbound_sms()

    assert first.recorded == 5 and first.incomplete
    cursor = InboundFetchCursor.objects.get()
    assert cursor.fetched_through == before and cursor.resume_before is not None  # not moved on yet
    recorded_first = set(CheckIn.objects.values_list("citizen_id", flat=True))
    assert recorded_first == {p.pk for p in people[:5]}  # the newest five

    runs = [fetch_missed_inbound_sms() for _ in range(3)]  # each lists again the oldest it took before
    assert all(run.listed <= 6 for run in runs)
    assert [bool(run.incomplete) for run in runs] == [True, False, False]
    cursor.refresh_from_db()
    assert cursor.resume_before is None and cursor.fetched_through > before
    assert CheckIn.objects.filter(status=NEED).count() == 12
    assert sum(run.recorded for run in runs) == 7


# --- what is not ours to record -------------------------------------------------------------


def test_outbound_messages_and_messages_still_arriving_are_ignored(twilio) -> None:
    twilio.configure(sent_after_ms=0, final_after_ms=0)  # listed by date sent at once
    citizen = CitizenFactory()
    # An outbound message to our own number (listed under To=ours) saying SAFE: not a citizen's.
    get_channel("sms").send(OutgoingMessage(channel="sms", to=OURS, body="SAFE", reference="test"))
    twilio.receive_sms(citizen.phone, OURS, "NEED", sent_at=ago(minutes=1), status="receiving")

    report = fetch_missed_inbound_sms()

    assert report.ignored == 2 and report.recorded == 0
    assert not InboundMessage.objects.exists() and not CheckIn.objects.exists()


def test_a_malformed_message_does_not_stop_the_run(twilio) -> None:
    good, bad = CitizenFactory(), CitizenFactory()
    twilio.receive_sms(good.phone, OURS, "SAFE", sent_at=ago(minutes=2))
    broken = twilio.receive_sms(bad.phone, OURS, "NEED", sent_at=ago(minutes=1))
    twilio.state.messages[broken]["from"] = None  # a record without a sender

    report = fetch_missed_inbound_sms()

    assert (report.recorded, report.failed) == (1, 1)
    assert status_of(good) == SAFE and status_of(bad) is None
    assert InboundFetchCursor.objects.get().resume_before is None  # the run finished


def test_a_message_erased_with_its_sender_is_not_recorded_again(twilio, client) -> None:
    citizen = CitizenFactory()
    text_us(client, citizen.phone, "NEED please call", sid=sid(3))
    twilio.receive_sms(citizen.phone, OURS, "NEED please call", sent_at=ago(minutes=1), sid=sid(3))
    erase_citizen(citizen)
    assert not InboundMessage.objects.exists()

    report = fetch_missed_inbound_sms()

    assert report.already == 1 and report.recorded == 0
    assert not InboundMessage.objects.exists()


def test_messages_older_than_the_cursor_and_its_overlap_are_not_listed(twilio) -> None:
    citizen = CitizenFactory()
    twilio.receive_sms(citizen.phone, OURS, "NEED", sent_at=ago(minutes=45))  # 30 + 10 minutes' overlap ago

    assert fetch_missed_inbound_sms().listed == 0
    assert not CheckIn.objects.exists()


def test_a_number_looked_at_for_the_first_time_starts_from_now_minus_the_overlap(twilio) -> None:
    InboundFetchCursor.objects.all().delete()
    citizen = CitizenFactory()
    twilio.receive_sms(citizen.phone, OURS, "SAFE", sent_at=ago(hours=2))
    twilio.receive_sms(citizen.phone, OURS, "NEED", sent_at=ago(minutes=2))

    assert fetch_missed_inbound_sms().recorded == 1
    assert status_of(citizen) == NEED


def test_each_configured_number_is_looked_at(twilio, settings) -> None:
    other = "+15005550009"
    settings.TWILIO_INBOUND_NUMBERS = [OURS, other]
    first, second = CitizenFactory(), CitizenFactory()
    twilio.receive_sms(first.phone, OURS, "SAFE", sent_at=ago(minutes=2))
    twilio.receive_sms(second.phone, other, "NEED", sent_at=ago(minutes=2))

    report = fetch_missed_inbound_sms()

    assert (report.numbers, report.recorded) == (2, 2)
    assert set(InboundFetchCursor.objects.values_list("number", flat=True)) == {OURS, other}


def test_a_number_twilio_refuses_does_not_stop_the_numbers_after_it(twilio, settings) -> None:
    other = "+15005550009"
    settings.TWILIO_INBOUND_NUMBERS = [OURS, other]
    citizen = CitizenFactory()
    twilio.receive_sms(citizen.phone, other, "NEED", sent_at=ago(minutes=2))
    twilio.fail_next(1, api="sms-list", http_status=400, twilio_code=21211)  # the first number's list only

    report = fetch_missed_inbound_sms()

    assert report.error and not report.provider_down
    assert (report.numbers, report.recorded) == (2, 1)
    assert status_of(citizen) == NEED


# --- Twilio down ------------------------------------------------------------------------------


def test_twilio_down_leaves_the_cursor_and_counts_towards_the_outage(twilio, settings) -> None:
    settings.CHANNEL_OUTAGE_AFTER = 3
    citizen = CitizenFactory()
    twilio.receive_sms(citizen.phone, OURS, "NEED", sent_at=ago(minutes=5))
    before = InboundFetchCursor.objects.get().fetched_through
    twilio.fail_next(3, api="sms-list", http_status=503)

    for _ in range(2):
        report = fetch_missed_inbound_sms()
        assert report.error and report.recorded == 0
        assert not ChannelPause.objects.exists()
    report = fetch_missed_inbound_sms()  # the third in a row: Twilio looks down

    assert "503" in report.error
    assert InboundFetchCursor.objects.get().fetched_through == before
    assert not CheckIn.objects.exists()
    pause = ChannelPause.objects.get(channel="sms")
    assert pause.kind == "outage"

    # Twilio answers again: nothing was lost.
    assert fetch_missed_inbound_sms().recorded == 1
    assert status_of(citizen) == NEED


def test_twilio_unreachable_or_too_slow_ends_the_run_quietly_and_counts(twilio, settings) -> None:
    settings.CHANNEL_OUTAGE_AFTER = 2
    settings.PROVIDER_TIMEOUT_SECONDS = 0.3
    twilio.fail_next(1, api="sms-list", http_status=500, latency_ms=1500)  # answers too late
    before = InboundFetchCursor.objects.get().fetched_through

    slow = fetch_missed_inbound_sms()
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"  # nothing listens there
    refused = fetch_missed_inbound_sms()

    assert "timed out" in slow.error and "connection failed" in refused.error
    assert InboundFetchCursor.objects.get().fetched_through == before
    assert ChannelPause.objects.get(channel="sms").code in ("timeout", "connection")


# --- schedule ----------------------------------------------------------------------------


def test_beat_runs_it_every_interval() -> None:
    entry = django_settings.CELERY_BEAT_SCHEDULE["alerts-fetch-missed-inbound-sms"]
    assert entry["task"] == "alerts.tasks.fetch_missed_inbound_sms"
    assert entry["schedule"] == django_settings.INBOUND_FETCH_EVERY_SECONDS
    assert entry["options"]["expires"] == entry["schedule"]


def test_it_does_nothing_without_twilio(settings) -> None:
    settings.SMS_BACKEND = "outbox"
    assert fetch_missed_inbound_sms().numbers == 0
