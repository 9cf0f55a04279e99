"""HELP/INFO are answered and never a check-in; anything else is kept for staff."""

from __future__ import annotations

import pytest

from alerts.models import CheckIn, InboundMessage
from tests.factories import CitizenFactory, DeliveryFactory
from tests.inbound.helpers import text_us

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("text", ["HELP", "help", "Help?", " info ", "INFO."])
def test_help_and_info_get_the_help_text(client, text: str) -> None:
    citizen = CitizenFactory()
    DeliveryFactory(citizen=citizen, sent=True)
    status, reply = text_us(client, citizen.phone, text)
    assert status == 200
    assert "SAFE" in reply and "STOP" in reply
    assert InboundMessage.objects.get().kind == InboundMessage.Kind.HELP
    assert not CheckIn.objects.exists()


def test_anything_else_is_kept_for_staff_with_its_words(client) -> None:
    citizen = CitizenFactory()
    body = "We are 4 people at the airport gate, no water"
    status, reply = text_us(client, citizen.phone, body)
    message = InboundMessage.objects.get()
    assert message.kind == InboundMessage.Kind.OTHER
    assert message.body == body
    assert message.citizen == citizen
    assert message.handled_at is None
    assert "staff" in reply
    assert not CheckIn.objects.exists()


@pytest.mark.parametrize("text", ["not safe", "10", "safe?? no", "", "👍"])
def test_near_misses_are_not_check_ins(client, text: str) -> None:
    citizen = CitizenFactory()
    text_us(client, citizen.phone, text)
    assert not CheckIn.objects.exists()
    assert InboundMessage.objects.get().kind == InboundMessage.Kind.OTHER


def test_an_unknown_number_is_told_how_to_register_and_the_message_kept(client) -> None:
    status, reply = text_us(client, "+447700900777", "Hello, is anyone there?")
    assert status == 200
    assert "not registered" in reply
    assert "http://testserver/" in reply
    message = InboundMessage.objects.get()
    assert message.citizen is None
    assert message.kind == InboundMessage.Kind.OTHER


NOT_REGISTERED_FA = "این شماره برای هشدارهای سفارت ثبت نشده است"


@pytest.mark.parametrize(
    "text",
    ["سلام، آیا کسی هست؟", "امن", "زه په کابل کې یم", "کمک لازم دارم، ۳ نفر", "ok کمک"],
    ids=["dari", "dari-check-in-word", "pashto", "arabic-indic-digits", "mostly-dari"],
)
def test_an_unknown_number_writing_in_the_arabic_script_is_answered_in_dari(client, text: str) -> None:
    status, reply = text_us(client, "+93700900777", text)
    assert status == 200
    assert reply.startswith(NOT_REGISTERED_FA)
    assert "http://testserver/" in reply
    assert "not registered" not in reply
    assert InboundMessage.objects.get().body == text


@pytest.mark.parametrize("text", ["Hello, is anyone there?", "SAFE", "1", "👍", "", "Salam, kumak"])
def test_an_unknown_number_writing_anything_else_is_answered_in_english(client, text: str) -> None:
    status, reply = text_us(client, "+93700900778", text)
    assert "not registered" in reply
    assert NOT_REGISTERED_FA not in reply


def test_a_citizens_own_language_wins_over_the_script_they_write_in(client) -> None:
    citizen = CitizenFactory(preferred_language="en")
    status, reply = text_us(client, citizen.phone, "ما در میدان هوایی هستیم")
    assert "staff" in reply  # kept for staff, answered in English


def test_a_repeated_unknown_message_in_dari_gets_the_same_dari_answer(client) -> None:
    first = text_us(client, "+93700900779", "سلام", sid="SMdari0001")
    second = text_us(client, "+93700900779", "سلام", sid="SMdari0001")
    assert first == second
    assert first[1].startswith(NOT_REGISTERED_FA)


def test_a_check_in_word_from_an_unknown_number_is_kept_for_staff(client) -> None:
    status, reply = text_us(client, "+447700900778", "SAFE")
    assert "not registered" in reply
    assert not CheckIn.objects.exists()
    assert InboundMessage.objects.get().kind == InboundMessage.Kind.OTHER


def test_the_same_message_sid_twice_changes_nothing(client) -> None:
    citizen = CitizenFactory()
    DeliveryFactory(citizen=citizen, sent=True)
    first = text_us(client, citizen.phone, "safe", sid="SMtwice0001")
    second = text_us(client, citizen.phone, "safe", sid="SMtwice0001")
    assert InboundMessage.objects.count() == 1
    assert CheckIn.objects.count() == 1
    assert first == second  # Twilio retried because our answer was lost: answer again


def test_a_duplicate_stop_after_start_does_not_opt_out_again(client) -> None:
    citizen = CitizenFactory()
    text_us(client, citizen.phone, "STOP", sid="SMstop0001")
    text_us(client, citizen.phone, "START", sid="SMstart0001")
    text_us(client, citizen.phone, "STOP", sid="SMstop0001")  # a late retry of the first
    citizen.refresh_from_db()
    assert citizen.phone_opted_out_at is None
    assert InboundMessage.objects.count() == 2


def test_the_log_holds_no_number_and_no_message_text(client, caplog) -> None:
    citizen = CitizenFactory()
    with caplog.at_level("DEBUG"):
        text_us(client, citizen.phone, "Need water urgently at Hotel Serena")
        text_us(client, citizen.phone, "STOP")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert citizen.phone not in logged
    assert citizen.phone[1:] not in logged
    assert "Hotel Serena" not in logged
