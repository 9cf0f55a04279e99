"""Check-in words by SMS record a CheckIn linked to the alert being answered."""

from __future__ import annotations

import pytest

from alerts.models import CheckIn, Delivery, InboundMessage
from alerts.services.checkins import parse_check_in
from tests.factories import AlertFactory, CitizenFactory, DeliveryFactory
from tests.inbound.helpers import text_us

pytestmark = pytest.mark.django_db

SAFE, ASSIST, LEFT = CheckIn.Status.SAFE, CheckIn.Status.NEEDS_ASSISTANCE, CheckIn.Status.DEPARTED

WORDS = [
    ("SAFE", SAFE),
    ("safe", SAFE),
    ("Safe!", SAFE),
    ("  sAfE.  ", SAFE),
    ("1", SAFE),
    (" 1. ", SAFE),
    ("ASSIST", ASSIST),
    ("Need", ASSIST),
    ("need!!", ASSIST),
    ("2", ASSIST),
    ("LEFT", LEFT),
    (" left.", LEFT),
    ("Departed", LEFT),
    ("3", LEFT),
    # Dari and Pashto, and digits as typed on Persian and Arabic keyboards.
    ("امن", SAFE),
    ("سالم", SAFE),
    ("خوندي", SAFE),  # Pashto, Arabic yeh
    ("۱", SAFE),
    ("١", SAFE),
    ("کمک", ASSIST),
    ("كمك", ASSIST),  # Arabic kaf
    ("مرسته", ASSIST),
    ("۲", ASSIST),
    ("رفتم", LEFT),
    ("۳", LEFT),
]


@pytest.mark.parametrize(("text", "status"), WORDS)
def test_each_check_in_word_records_its_status(client, text: str, status: str) -> None:
    citizen = CitizenFactory()
    code, reply = text_us(client, citizen.phone, text)
    assert code == 200
    check_in = CheckIn.objects.get()
    assert check_in.citizen == citizen
    assert check_in.status == status
    assert check_in.source == CheckIn.Source.SMS
    assert check_in.raw_text == text
    assert check_in.inbound_message.kind == InboundMessage.Kind.CHECK_IN
    assert "recorded" in reply


def test_the_confirmation_says_what_was_recorded(client) -> None:
    citizen = CitizenFactory()
    assert "safe" in text_us(client, citizen.phone, "1")[1]
    assert "need assistance" in text_us(client, citizen.phone, "2")[1]
    assert "have left" in text_us(client, citizen.phone, "3")[1]
    assert CheckIn.objects.count() == 3


def test_a_check_in_is_linked_to_the_most_recent_alert_that_reached_the_number(client) -> None:
    citizen = CitizenFactory()
    older = DeliveryFactory(citizen=citizen, delivered=True).alert
    newer = DeliveryFactory(citizen=citizen, sent=True).alert
    DeliveryFactory(citizen=citizen, state=Delivery.State.QUEUED)  # not sent yet: not answered
    DeliveryFactory(citizen=citizen, channel=Delivery.Channel.EMAIL, sent=True)  # not by SMS
    assert older != newer
    text_us(client, citizen.phone, "SAFE")
    assert CheckIn.objects.get().alert == newer


def test_a_check_in_with_no_alert_sent_is_kept_without_one(client) -> None:
    citizen = CitizenFactory()
    text_us(client, citizen.phone, "need")
    check_in = CheckIn.objects.get()
    assert check_in.alert is None
    assert check_in.status == ASSIST


def test_the_citizen_the_alert_went_to_is_the_one_checked_in(client) -> None:
    # Two rows share a number (one unverified); the alert went to the verified one.
    holder = CitizenFactory()
    CitizenFactory(phone=holder.phone, phone_verified_at=None)
    alert = AlertFactory()
    DeliveryFactory(citizen=holder, alert=alert, sent=True)
    text_us(client, holder.phone, "left")
    check_in = CheckIn.objects.get()
    assert check_in.citizen == holder
    assert check_in.alert == alert


def test_parse_check_in_reads_only_whole_words() -> None:
    assert parse_check_in("S.A.F.E") == SAFE
    assert parse_check_in("unsafe") is None
    assert parse_check_in("left side") is None
    assert parse_check_in("help") is None
