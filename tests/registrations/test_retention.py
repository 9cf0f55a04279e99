"""Retention: what has served its purpose goes a stated time after, what may still be
needed stays (embassy.retention, run daily by beat)."""

from __future__ import annotations

import datetime
import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from alerts.models import Alert, Delivery, InboundMessage, OutboxMessage
from alerts.tasks import apply_retention as apply_retention_task
from embassy import retention
from embassy.retention import apply_retention
from registrations.models import Citizen, HouseholdMember, Presence, Verification
from tests.factories import (
    AlertFactory,
    AreaFactory,
    CheckInFactory,
    CitizenFactory,
    DeliveryFactory,
    HouseholdMemberFactory,
    InboundMessageFactory,
    PresenceFactory,
)

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def days_ago(days: float) -> datetime.datetime:
    return NOW - datetime.timedelta(days=days)


def aged(obj, days: float, *fields: str):  # type: ignore[no-untyped-def]
    """Backdate ``fields`` of ``obj`` (auto_now fields too) to ``days`` ago."""
    type(obj).objects.filter(pk=obj.pk).update(**{name: days_ago(days) for name in fields})
    obj.refresh_from_db()
    return obj


# --- sessions -------------------------------------------------------------------------


def test_expired_sessions_go_and_live_ones_stay():
    live = SessionStore()
    live["k"] = "v"
    live.create()
    expired = SessionStore()
    expired["k"] = "v"
    expired.create()
    Session.objects.filter(session_key=expired.session_key).update(expire_date=days_ago(1))

    assert apply_retention(NOW).sessions_cleared is True
    assert list(Session.objects.values_list("session_key", flat=True)) == [live.session_key]


def test_sessions_kept_elsewhere_are_left_to_their_engine(settings):
    """Signed-cookie (and cache) sessions expire by themselves: nothing to do, no error."""
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    assert retention.clear_expired_sessions() is True


# --- verifications --------------------------------------------------------------------


def verification(citizen, *, expired_days_ago: float, used: bool = False) -> Verification:
    return Verification.objects.create(
        citizen=citizen,
        channel="sms",
        address=citizen.phone,
        expires_at=days_ago(expired_days_ago),
        used_at=days_ago(expired_days_ago + 0.01) if used else None,
    )


def test_verifications_go_thirty_days_after_they_expired():
    citizen = CitizenFactory()
    old = verification(citizen, expired_days_ago=31)
    old_used = verification(citizen, expired_days_ago=31, used=True)
    recent = verification(citizen, expired_days_ago=29)
    pending = verification(citizen, expired_days_ago=-0.01)  # still valid

    assert apply_retention(NOW).verifications == 2
    assert set(Verification.objects.values_list("pk", flat=True)) == {recent.pk, pending.pk}
    assert not Verification.objects.filter(pk__in=[old.pk, old_used.pk]).exists()


def test_a_never_confirmed_registrations_verifications_stay_with_it():
    """They are what the next rule reads: a code asked for is a sign of life, a used one
    (she confirmed her mobile once, then changed both contacts) a confirmation."""
    changed = CitizenFactory(unverified=True)
    proof = verification(changed, expired_days_ago=400, used=True)
    asked = verification(changed, expired_days_ago=60)
    assert apply_retention(NOW).verifications == 0
    assert set(Verification.objects.values_list("pk", flat=True)) == {proof.pk, asked.pk}


def test_the_days_are_a_setting(settings):
    settings.RETENTION_VERIFICATION_DAYS = 7
    citizen = CitizenFactory()
    verification(citizen, expired_days_ago=8)
    kept = verification(citizen, expired_days_ago=6)
    apply_retention(NOW)
    assert list(Verification.objects.values_list("pk", flat=True)) == [kept.pk]


# --- inbound SMS from numbers that were nobody's ----------------------------------------


def test_sms_from_unknown_numbers_go_ninety_days_after_they_were_dealt_with():
    K = InboundMessage.Kind

    def unknown(kind: str, received: float, handled: float | None = None) -> InboundMessage:
        message = InboundMessageFactory(citizen=None, kind=kind, body=f"{kind} {received} {handled}")
        InboundMessage.objects.filter(pk=message.pk).update(
            received_at=days_ago(received), handled_at=days_ago(handled) if handled is not None else None
        )
        return message

    gone = [
        unknown(K.OPT_OUT, 91),
        unknown(K.HELP, 200),
        unknown(K.OTHER, 120, handled=91),
    ]
    kept = [
        unknown(K.OPT_OUT, 89),
        unknown(K.OTHER, 120, handled=89),  # handled recently
        unknown(K.OTHER, 365),  # nobody has read it: it waits in the inbox
        aged(InboundMessageFactory(body="a citizen's"), 400, "received_at"),  # theirs: kept with them
    ]

    assert apply_retention(NOW).inbound_messages == len(gone)
    assert set(InboundMessage.objects.values_list("pk", flat=True)) == {m.pk for m in kept}


# --- registrations never confirmed ------------------------------------------------------


def unconfirmed(days: float, **kwargs) -> Citizen:  # type: ignore[no-untyped-def]
    citizen = CitizenFactory(unverified=True, **kwargs)
    PresenceFactory(citizen=citizen, country="FR", region="", city="Paris")
    HouseholdMemberFactory(citizen=citizen)
    return aged(citizen, days, "created_at", "updated_at")


def test_a_registration_never_confirmed_goes_after_ninety_quiet_days():
    old = unconfirmed(91, full_name="Never Confirmed")
    alert = AlertFactory(live=True, state=Alert.State.SENT)
    aged(DeliveryFactory(alert=alert, citizen=old, sent=True), 100, "created_at")  # an urgent alert, long ago
    InboundMessageFactory(citizen=None, from_number=old.phone, body="sent before registering")
    recent = unconfirmed(89)
    verified = aged(CitizenFactory(), 400, "created_at", "updated_at")

    report = apply_retention(NOW)

    assert report.unverified_citizens == 1
    assert set(Citizen.objects.values_list("pk", flat=True)) == {recent.pk, verified.pk}
    # Erased as a deletion erases: the alert keeps its count, nothing names them.
    delivery = Delivery.objects.get(alert=alert)
    assert (delivery.address, delivery.citizen_id) == (f"erased:{delivery.pk}", None)
    assert not InboundMessage.objects.filter(from_number=old.phone).exists()
    assert Presence.objects.filter(citizen_id=old.pk).count() == 0
    assert HouseholdMember.objects.filter(citizen_id=old.pk).count() == 0


@pytest.mark.parametrize(
    "sign_of_life",
    ["changed", "code asked for", "sent an alert", "checked in", "sent an SMS"],
)
def test_a_sign_of_life_within_ninety_days_keeps_a_registration(sign_of_life):
    citizen = unconfirmed(200)
    if sign_of_life == "changed":
        aged(citizen, 10, "updated_at")
    elif sign_of_life == "code asked for":
        # Sixty days ago: past the verifications' thirty, still within the ninety.
        aged(verification(citizen, expired_days_ago=60), 60, "created_at")
    elif sign_of_life == "sent an alert":
        aged(DeliveryFactory(citizen=citizen, alert=AlertFactory(live=True)), 10, "created_at")
    elif sign_of_life == "checked in":
        aged(CheckInFactory(citizen=citizen), 10, "created_at")
    else:
        aged(InboundMessageFactory(citizen=citizen), 10, "received_at")
    assert apply_retention(NOW).unverified_citizens == 0
    assert Citizen.objects.filter(pk=citizen.pk).exists()


def test_a_registration_confirmed_once_is_not_taken_for_a_never_confirmed_one():
    citizen = unconfirmed(400)
    verification(citizen, expired_days_ago=400, used=True)
    apply_retention(NOW)
    assert Citizen.objects.filter(pk=citizen.pk).exists()


@pytest.mark.parametrize(
    ("area", "presence", "kept"),
    [
        ({"country": "AF", "region": "", "level": 4}, {"region": "AF-KAB"}, True),
        ({"country": "AF", "region": "AF-BAL", "level": 4}, {"region": "AF-BAL"}, True),
        ({"country": "AF", "region": "AF-BAL", "level": 4}, {"region": "AF-KAB"}, False),  # elsewhere
        ({"country": "AF", "region": "", "level": 3}, {"region": "AF-KAB"}, False),
        ({"country": "AF", "region": "", "level": 4}, {"region": "AF-KAB", "ended_at": days_ago(120)}, False),
        (
            {"country": "AF", "region": "", "level": 4},
            {"region": "AF-KAB", "lives_here": False, "departure_date": days_ago(120).date()},
            False,
        ),
        (  # a trip still to come
            {"country": "AF", "region": "", "level": 4},
            {
                "region": "AF-KAB",
                "lives_here": False,
                "arrival_date": (NOW + datetime.timedelta(days=30)).date(),
                "departure_date": (NOW + datetime.timedelta(days=60)).date(),
            },
            True,
        ),
    ],
)
def test_nobody_is_erased_while_in_an_area_at_the_highest_level(area, presence, kept):
    """There, an approver may include unverified contacts in the next alert."""
    if area["region"]:
        AreaFactory(country=area["country"], region="", level=1)
    AreaFactory(**area)
    citizen = unconfirmed(400)
    PresenceFactory(citizen=citizen, country="AF", **presence)
    apply_retention(NOW)
    assert Citizen.objects.filter(pk=citizen.pk).exists() is kept


def test_one_pass_erases_at_most_so_many_oldest_first(monkeypatch):
    monkeypatch.setattr(retention, "MAX_ERASURES_PER_RUN", 2)
    newest, oldest, middle = unconfirmed(100), unconfirmed(300), unconfirmed(200)
    assert apply_retention(NOW).unverified_citizens == 2
    assert list(Citizen.objects.values_list("pk", flat=True)) == [newest.pk]
    assert apply_retention(NOW).unverified_citizens == 1
    assert not Citizen.objects.filter(pk__in=[oldest.pk, middle.pk]).exists()


def test_a_registration_confirmed_meanwhile_is_kept(monkeypatch):
    """The list is read first, each one asked again under its lock before it is erased."""
    citizen = unconfirmed(400)
    listed = retention.unconfirmed_registrations

    def then_confirmed(now):  # type: ignore[no-untyped-def]
        rows = list(listed(now).values_list("pk", flat=True))
        Citizen.objects.filter(pk=citizen.pk).update(phone_verified_at=NOW)
        return Citizen.objects.filter(pk__in=rows)

    calls = iter([then_confirmed, listed])
    monkeypatch.setattr(retention, "unconfirmed_registrations", lambda now: next(calls)(now))
    assert apply_retention(NOW).unverified_citizens == 0
    assert Citizen.objects.filter(pk=citizen.pk).exists()


# --- the development outbox -------------------------------------------------------------


def test_outbox_messages_go_after_thirty_days():
    old = OutboxMessage.objects.create(channel="sms", to="+10000000001", body="old", provider_message_id="old")
    new = OutboxMessage.objects.create(channel="sms", to="+10000000001", body="new", provider_message_id="new")
    aged(old, 31, "created_at")
    assert apply_retention(NOW).outbox_messages == 1
    assert list(OutboxMessage.objects.values_list("pk", flat=True)) == [new.pk]


# --- the task, the schedule and the settings -------------------------------------------


def test_beat_runs_it_daily():
    entries = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "alerts.tasks.apply_retention"]
    assert [e["schedule"] for e in entries] == [86400.0]


def test_the_task_applies_every_rule():
    unconfirmed(200)
    OutboxMessage.objects.filter(
        pk=OutboxMessage.objects.create(channel="sms", to="+1", body="x", provider_message_id="x").pk
    ).update(created_at=days_ago(40))
    assert apply_retention_task.apply().get() == 2
    assert Citizen.objects.count() == 0 and OutboxMessage.objects.count() == 0


def test_nothing_recent_goes():
    """A busy week in a crisis: everything is days old, and all of it stays."""
    AreaFactory(country="AF", level=3)
    citizen = unconfirmed(5)
    verified = CitizenFactory()
    verification(citizen, expired_days_ago=5)
    InboundMessageFactory(citizen=None, kind=InboundMessage.Kind.OPT_OUT)
    InboundMessageFactory(citizen=None, body="help", handled_at=NOW)
    DeliveryFactory(citizen=verified, alert=AlertFactory(live=True))
    OutboxMessage.objects.create(channel="sms", to="+1", body="x", provider_message_id="x")
    counts = {m: m.objects.count() for m in (Citizen, Verification, InboundMessage, Delivery, OutboxMessage)}
    report = apply_retention(NOW)
    assert (report.verifications, report.inbound_messages, report.unverified_citizens, report.outbox_messages) == (
        0,
        0,
        0,
        0,
    )
    assert {m: m.objects.count() for m in counts} == counts


def test_the_settings_are_read_from_the_environment_and_refuse_zero():
    code = "import django; django.setup(); from django.conf import settings; print(settings.{})"
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "embassy.settings.local"}

    def start(name: str, value: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", code.format(name)], env={**env, name: value}, capture_output=True, text=True
        )

    assert start("RETENTION_UNVERIFIED_REGISTRATION_DAYS", "120").stdout.strip() == "120"
    refused = start("RETENTION_INBOUND_UNKNOWN_DAYS", "0")
    assert refused.returncode != 0 and "RETENTION_INBOUND_UNKNOWN_DAYS must be at least 1" in refused.stderr
