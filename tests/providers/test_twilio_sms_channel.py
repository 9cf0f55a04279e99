"""SMS through the real twilio SDK to the loopback stub: what Twilio would receive."""

from __future__ import annotations

import base64
import logging
import threading
import time

import pytest

from alerts.channels import ChannelError, OutgoingMessage, SendResult, get_channel
from alerts.channels.twilio import TwilioSMSChannel
from tests.fixtures.provider_stub import STUB_MESSAGING_SERVICE_SID


def sms(to: str, body: str = "Leave the city by the northern road.", reference: str = "") -> OutgoingMessage:
    return OutgoingMessage(channel="sms", to=to, body=body, reference=reference)


def test_it_sends_an_sms_the_stub_receives_with_number_body_and_sender(stub_providers):
    result = get_channel("sms").send(sms("+447700900123", "Shelter in place.", reference="delivery:42"))

    (request,) = stub_providers.received("sms")
    assert request["status"] == 201
    assert request["to"] == ["+447700900123"]
    assert request["body"] == "Shelter in place."
    assert request["form"]["MessagingServiceSid"] == STUB_MESSAGING_SERVICE_SID
    assert "From" not in request["form"]
    assert result.provider_message_id == request["sid"]
    assert result.provider_message_id.startswith("SM") and len(result.provider_message_id) == 34


def test_it_authenticates_with_the_account_sid_and_token(stub_providers):
    get_channel("sms").send(sms("+447700900123"))

    (request,) = stub_providers.received("sms")
    expected = base64.b64encode(f"{stub_providers.twilio_account_sid}:{stub_providers.twilio_auth_token}".encode())
    assert request["headers"]["Authorization"] == "Basic " + expected.decode()
    assert request["path"] == f"/2010-04-01/Accounts/{stub_providers.twilio_account_sid}/Messages.json"
    assert request["headers"]["User-Agent"].startswith("twilio-python/")


def test_it_asks_for_a_status_callback_naming_the_reference(stub_providers, settings):
    settings.PUBLIC_BASE_URL = "https://alerts.embassy.example"
    channel = get_channel("sms")
    channel.send(sms("+447700900123", reference="delivery:42"))
    channel.send(sms("+447700900124"))

    with_ref, without_ref = stub_providers.received("sms")
    assert with_ref["callback_url"] == "https://alerts.embassy.example/hooks/twilio/status/?ref=delivery:42"
    assert without_ref["callback_url"] == "https://alerts.embassy.example/hooks/twilio/status/"


def test_it_sends_from_the_number_when_no_messaging_service_is_set(stub_providers, settings):
    settings.TWILIO_MESSAGING_SERVICE_SID = ""
    settings.TWILIO_FROM_NUMBER = "+15005550006"

    get_channel("sms").send(sms("+447700900123"))

    (request,) = stub_providers.received("sms")
    assert request["form"]["From"] == "+15005550006"
    assert "MessagingServiceSid" not in request["form"]


def test_send_batch_returns_one_result_per_message_in_order(stub_providers):
    numbers = [f"+4477009{n:05d}" for n in range(30)]
    stub_providers.fail_next(1, twilio_code=21211, to=numbers[7])

    results = get_channel("sms").send_batch([sms(n, reference=f"delivery:{i}") for i, n in enumerate(numbers)])

    assert len(results) == 30
    assert isinstance(results[7], ChannelError) and results[7].code == "21211"
    sid_by_number = {r["to"][0]: r.get("sid") for r in stub_providers.received("sms")}
    for number, result in zip(numbers, results, strict=True):
        if number != numbers[7]:
            assert isinstance(result, SendResult)
            assert result.provider_message_id == sid_by_number[number]


def test_send_batch_keeps_many_requests_in_flight(stub_providers, settings):
    settings.SMS_CONCURRENCY = 50
    stub_providers.configure(latency_ms=100)

    results = get_channel("sms").send_batch([sms(f"+4477009{n:05d}") for n in range(50)])

    assert all(isinstance(r, SendResult) for r in results)
    # One at a time would never have more than one in flight (and take 5 s).
    assert stub_providers.stats()["in_flight_peak"] >= 40
    requests = stub_providers.received("sms")
    first_finished = min(r["finished"] for r in requests)
    assert sum(1 for r in requests if r["started"] < first_finished) >= 40


def test_send_batch_never_exceeds_the_configured_concurrency(stub_providers, settings):
    settings.SMS_CONCURRENCY = 5
    stub_providers.configure(latency_ms=30)

    get_channel("sms").send_batch([sms(f"+4477009{n:05d}") for n in range(40)])

    assert stub_providers.stats()["in_flight_peak"] == 5


class CountingLimiter:
    """A blocking limiter that notes how often it was asked."""

    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def acquire(self) -> None:
        with self.lock:
            self.calls += 1


class AsyncCountingLimiter(CountingLimiter):
    async def acquire_async(self) -> None:
        self.calls += 1


@pytest.mark.parametrize("limiter_class", [CountingLimiter, AsyncCountingLimiter])
def test_send_batch_asks_the_limiter_before_every_request(stub_providers, limiter_class):
    limiter = limiter_class()

    get_channel("sms").send_batch([sms(f"+4477009{n:05d}") for n in range(12)], limiter=limiter)

    assert limiter.calls == 12
    assert len(stub_providers.received("sms")) == 12


def test_a_limiter_that_waits_holds_requests_back(stub_providers):
    gate = threading.Event()
    opened_at: list[float] = []

    class GateLimiter:
        def acquire(self) -> None:
            gate.wait(5)

    def open_gate() -> None:
        opened_at.append(time.time())
        gate.set()

    timer = threading.Timer(0.3, open_gate)
    timer.start()
    get_channel("sms").send_batch([sms("+447700900001"), sms("+447700900002")], limiter=GateLimiter())
    timer.join()

    requests = stub_providers.received("sms")
    assert len(requests) == 2
    assert all(r["received_at"] >= opened_at[0] for r in requests)


def test_it_sends_from_inside_a_running_event_loop(stub_providers):
    import asyncio

    results: list[SendResult] = []

    async def caller() -> None:
        results.append(get_channel("sms").send(sms("+447700900123")))

    # A thread of its own: other tests (Playwright's sync API) may leave a loop running in this one.
    thread = threading.Thread(target=lambda: asyncio.run(caller()))
    thread.start()
    thread.join(10)

    assert results[0].provider_message_id == stub_providers.received("sms")[0]["sid"]


def test_no_number_or_text_reaches_the_logs(stub_providers, caplog):
    caplog.set_level(logging.DEBUG)
    stub_providers.fail_next(1, twilio_code=21610, to="+447700900555")

    get_channel("sms").send_batch(
        [sms("+447700900123", "Secret route north", "delivery:1"), sms("+447700900555", "Secret route south")]
    )

    assert "+447700900123" not in caplog.text and "447700900555" not in caplog.text
    assert "Secret route" not in caplog.text
    assert "delivery:1" in caplog.text or "21610" in caplog.text  # our own lines are there, masked


def test_it_refuses_to_start_without_credentials(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.TWILIO_ACCOUNT_SID = ""
    with pytest.raises(ImproperlyConfigured):
        TwilioSMSChannel()


def test_messages_to_a_number_can_be_looked_up_after_a_lost_answer(stub_providers):
    from datetime import UTC, datetime, timedelta

    channel = TwilioSMSChannel()
    before = datetime.now(UTC) - timedelta(seconds=1)
    first = channel.send(sms("+447700900123", "First"))
    second = channel.send(sms("+447700900123", "Second"))
    channel.send(sms("+447700900999", "Someone else"))

    found = channel.messages_to("+447700900123", since=before)

    assert [(m.sid, m.body) for m in found] == [
        (second.provider_message_id, "Second"),
        (first.provider_message_id, "First"),
    ]
    assert channel.messages_to("+447700900123", since=datetime.now(UTC) + timedelta(minutes=1)) == []


def test_a_lost_answer_is_an_unclear_outcome_and_the_message_is_found_by_look_up(stub_providers):
    from datetime import UTC, datetime, timedelta

    channel = TwilioSMSChannel()
    before = datetime.now(UTC) - timedelta(seconds=1)
    stub_providers.fail_next(1, lose_answer=True)

    [result] = channel.send_batch([sms("+447700900123", "Lost answer")])

    assert isinstance(result, ChannelError) and result.permanent is False
    assert result.code == "connection"  # one of the pipeline's ambiguous codes: looked up first
    [record] = stub_providers.received("sms")
    assert record["status"] == 201 and record["answer_lost"] is True
    [found] = channel.messages_to("+447700900123", since=before)
    assert (found.sid, found.body) == (record["sid"], "Lost answer")


def test_send_batch_reuses_its_connections(stub_providers, settings):
    settings.SMS_CONCURRENCY = 10

    get_channel("sms").send_batch([sms(f"+4477009{n:05d}") for n in range(200)])

    connections = {tuple(r["peer"]) for r in stub_providers.received("sms")}
    assert len(connections) <= 10
