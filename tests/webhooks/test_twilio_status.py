"""Twilio status callbacks move SMS deliveries forward, once, and never back."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alerts.models import Delivery
from alerts.services.delivery_status import record_sms_status
from tests.factories import DeliveryFactory
from tests.webhooks.helpers import post_twilio

pytestmark = pytest.mark.django_db

STATUS = "/hooks/twilio/status/"
S = Delivery.State


def _callback(client, delivery: Delivery, status: str, *, sid: str | None = None, error: str = "", ref: bool = False):
    params = {"MessageSid": sid or delivery.provider_message_id, "MessageStatus": status, "To": delivery.address}
    if error:
        params["ErrorCode"] = error
    path = f"{STATUS}?ref=delivery:{delivery.pk}" if ref else STATUS
    response = post_twilio(client, path, params)
    assert response.status_code == 204
    delivery.refresh_from_db()
    return delivery


def test_delivered_moves_a_sent_delivery_to_delivered(client) -> None:
    delivery = _callback(client, DeliveryFactory(sent=True), "delivered")
    assert delivery.state == S.DELIVERED
    assert delivery.delivered_at is not None


def test_sent_moves_a_sending_delivery_to_sent_and_keeps_no_error(client) -> None:
    delivery = DeliveryFactory(state=S.SENDING, provider_message_id="SMsending0001")
    delivery = _callback(client, delivery, "sent")
    assert delivery.state == S.SENT
    assert delivery.sent_at is not None
    assert delivery.error_reason == ""


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("30003", "Phone switched off or out of coverage"),
        ("30004", "Blocked by the recipient or their carrier"),
        ("30005", "Unknown number, or no longer in service"),
        ("30006", "Landline, or a carrier that cannot take SMS"),
        ("30007", "Filtered by the carrier as spam"),
        ("30008", "Unknown delivery error"),
    ],
)
def test_undelivered_keeps_the_error_code_in_plain_words(client, code: str, words: str) -> None:
    delivery = _callback(client, DeliveryFactory(sent=True), "undelivered", error=code)
    assert delivery.state == S.FAILED
    assert delivery.error_code == code
    assert delivery.error_reason == words


def test_failed_with_an_unlisted_code_still_names_it(client) -> None:
    delivery = _callback(client, DeliveryFactory(sent=True), "failed", error="30410")
    assert delivery.state == S.FAILED
    assert delivery.error_code == "30410"
    assert "30410" in delivery.error_reason


def test_a_duplicate_callback_changes_nothing(client) -> None:
    delivery = _callback(client, DeliveryFactory(sent=True), "delivered")
    first = (delivery.state, delivery.delivered_at, delivery.updated_at)
    delivery = _callback(client, delivery, "delivered")
    assert (delivery.state, delivery.delivered_at, delivery.updated_at) == first


def test_a_duplicate_failure_keeps_the_first_reason(client) -> None:
    delivery = _callback(client, DeliveryFactory(sent=True), "undelivered", error="30003")
    delivery = _callback(client, delivery, "undelivered", error="30008")
    assert delivery.error_code == "30003"


def test_sent_after_delivered_does_not_move_it_back(client) -> None:
    delivery = _callback(client, DeliveryFactory(sent=True), "delivered")
    delivery = _callback(client, delivery, "sent")
    assert delivery.state == S.DELIVERED


def test_a_late_failure_after_delivered_is_ignored(client) -> None:
    delivery = _callback(client, DeliveryFactory(sent=True), "delivered")
    delivery = _callback(client, delivery, "failed", error="30008")
    assert delivery.state == S.DELIVERED
    assert delivery.error_code == ""


def test_delivered_after_a_failure_report_wins(client) -> None:
    delivery = _callback(client, DeliveryFactory(sent=True), "undelivered", error="30003")
    delivery = _callback(client, delivery, "delivered")
    assert delivery.state == S.DELIVERED


def test_early_statuses_say_nothing_new(client) -> None:
    delivery = DeliveryFactory(sent=True)
    for status in ("queued", "accepted", "sending", "scheduled"):
        delivery = _callback(client, delivery, status)
        assert delivery.state == S.SENT


def test_a_skipped_delivery_is_never_touched(client) -> None:
    delivery = DeliveryFactory(state=S.SKIPPED, provider_message_id="SMskipped0001", error_reason="opted out")
    delivery = _callback(client, delivery, "delivered")
    assert delivery.state == S.SKIPPED


def test_the_ref_in_the_url_finds_a_delivery_whose_sid_is_not_saved_yet(client) -> None:
    # The callback can overtake the worker still saving the id Twilio returned.
    delivery = DeliveryFactory(state=S.SENDING, provider_message_id="")
    delivery = _callback(client, delivery, "sent", sid="SMovertaking0001", ref=True)
    assert delivery.state == S.SENT
    assert delivery.provider_message_id == "SMovertaking0001"


def test_the_ref_cannot_claim_a_delivery_that_has_another_sid(client) -> None:
    delivery = DeliveryFactory(sent=True)
    delivery = _callback(client, delivery, "undelivered", sid="SMsomethingelse", error="30003", ref=True)
    assert delivery.state == S.SENT


def test_an_unknown_sid_is_answered_and_changes_nothing(client) -> None:
    delivery = DeliveryFactory(sent=True)
    _callback(client, delivery, "failed", sid="SMnobodyknows", error="30003")
    delivery.refresh_from_db()
    assert delivery.state == S.SENT


def test_an_email_delivery_with_the_same_id_is_not_touched(client) -> None:
    email = DeliveryFactory(channel=Delivery.Channel.EMAIL, sent=True)
    record_sms_status(email.provider_message_id, "undelivered", error_code="30003")
    email.refresh_from_db()
    assert email.state == S.SENT


def test_a_status_write_is_one_update_statement() -> None:
    delivery = DeliveryFactory(sent=True)
    with CaptureQueriesContext(connection) as queries:
        outcome = record_sms_status(delivery.provider_message_id, "delivered")
    assert outcome.changed == 1
    statements = [q["sql"] for q in queries.captured_queries]
    assert len(statements) == 1
    assert statements[0].startswith("UPDATE")
