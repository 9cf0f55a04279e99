"""The sender loop's pool of workers, through the real SDK and the loopback stub: batches
share one concurrency limit, results keep their order, and one bad send fails alone."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from alerts.channels import ChannelError, OutgoingMessage, SendResult, get_channel
from alerts.channels.twilio import TwilioSMSChannel


def sms(to: str, reference: str = "") -> OutgoingMessage:
    return OutgoingMessage(channel="sms", to=to, body="Stay indoors.", reference=reference)


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"+4477009{n:05d}" for n in range(start, start + count)]


def test_batches_submitted_back_to_back_share_the_concurrency_and_follow_without_a_gap(stub_providers, settings):
    settings.SMS_CONCURRENCY = 5
    stub_providers.configure(latency_ms=40)
    channel = get_channel("sms")
    first, second = numbers(12), numbers(12, start=100)

    futures = [channel.submit_batch([sms(n) for n in first]), channel.submit_batch([sms(n) for n in second])]
    results = [f.result(timeout=10) for f in futures]

    assert all(isinstance(r, SendResult) for batch in results for r in batch)
    assert stub_providers.stats()["in_flight_peak"] == 5
    requests = stub_providers.received("sms")
    first_done = max(r["finished"] for r in requests if r["to"][0] in first)
    # 12 = 5 + 5 + 2: the second batch fills the three places the first batch's last round leaves.
    assert sum(1 for r in requests if r["to"][0] in second and r["started"] < first_done) >= 3


def test_results_keep_the_order_of_the_messages_when_answers_come_out_of_order(stub_providers, settings):
    settings.SMS_CONCURRENCY = 10
    stub_providers.configure(latency_ms=1, latency_jitter_ms=40)
    to = numbers(60)

    results = get_channel("sms").send_batch([sms(n) for n in to])

    sid_by_number = {r["to"][0]: r["sid"] for r in stub_providers.received("sms")}
    assert [r.provider_message_id for r in results] == [sid_by_number[n] for n in to]
    by_finish = [r["to"][0] for r in sorted(stub_providers.received("sms"), key=lambda r: r["finished"])]
    assert by_finish != to  # the answers did come back out of order


def test_each_send_reads_its_own_retry_after_while_others_are_in_flight(stub_providers, settings):
    settings.SMS_CONCURRENCY = 10
    stub_providers.configure(latency_ms=30)
    to = numbers(10)
    stub_providers.fail_next(1, twilio_code=20429, to=to[2], retry_after=7, latency_ms=60)
    stub_providers.fail_next(1, twilio_code=20429, to=to[5], retry_after=3, latency_ms=10)

    results = get_channel("sms").send_batch([sms(n) for n in to])

    assert isinstance(results[2], ChannelError) and results[2].retry_after == 7
    assert isinstance(results[5], ChannelError) and results[5].retry_after == 3
    assert all(isinstance(r, SendResult) for i, r in enumerate(results) if i not in (2, 5))


def test_an_exception_in_one_send_fails_that_message_only_and_the_workers_go_on(stub_providers, settings, monkeypatch):
    settings.SMS_CONCURRENCY = 4
    send_one = TwilioSMSChannel._send_one
    broken = set(numbers(6, start=500))

    async def flaky(self, resource, message):
        if message.to in broken:
            raise RuntimeError("a bug of ours")
        return await send_one(self, resource, message)

    monkeypatch.setattr(TwilioSMSChannel, "_send_one", flaky)
    channel = get_channel("sms")

    results = channel.send_batch([sms(n) for n in [*numbers(3), *sorted(broken), *numbers(3, start=3)]])

    assert [type(r) for r in results] == [SendResult] * 3 + [ChannelError] * 6 + [SendResult] * 3
    assert all(r.message == "not sent" and r.permanent is False for r in results[3:9])
    # Every worker survived: the next batch still has four requests in flight at once.
    stub_providers.reset()
    stub_providers.configure(latency_ms=40)
    assert all(isinstance(r, SendResult) for r in channel.send_batch([sms(n) for n in numbers(12, start=20)]))
    assert stub_providers.stats()["in_flight_peak"] == 4


def test_a_limiter_failure_fails_that_message_only(stub_providers):
    calls: list[int] = []

    class OnceBrokenLimiter:
        def acquire(self) -> None:
            raise AssertionError("never asked in a thread: it has acquire_async")

        async def acquire_async(self) -> None:
            calls.append(1)
            if len(calls) == 2:
                raise ConnectionError("redis went away")

    results = get_channel("sms").send_batch([sms(n) for n in numbers(5)], limiter=OnceBrokenLimiter())

    assert len(calls) == 5
    failed = [r for r in results if isinstance(r, ChannelError)]
    assert len(failed) == 1 and failed[0].message == "not sent" and failed[0].permanent is False
    assert len(stub_providers.received("sms")) == 4


def test_the_limiter_is_awaited_once_per_message_of_overlapping_batches(stub_providers, settings):
    settings.SMS_CONCURRENCY = 3
    stub_providers.configure(latency_ms=10)
    waited: list[str] = []

    class SlowLimiter:
        def acquire(self) -> None:
            raise AssertionError("never asked in a thread: it has acquire_async")

        async def acquire_async(self) -> None:
            await asyncio.sleep(0.002)
            waited.append("slot")

    channel = get_channel("sms")
    limiter = SlowLimiter()
    futures = [channel.submit_batch([sms(n) for n in numbers(7, start=10 * i)], limiter) for i in range(3)]
    for future in futures:
        assert all(isinstance(r, SendResult) for r in future.result(timeout=10))

    assert len(waited) == 21
    assert len(stub_providers.received("sms")) == 21
    assert stub_providers.stats()["in_flight_peak"] <= 3


def test_an_empty_batch_is_done_at_once(stub_providers):
    channel = get_channel("sms")

    future = channel.submit_batch([])

    assert future.done() and future.result() == []
    assert channel.send_batch([]) == []
    assert stub_providers.received("sms") == []


def test_a_cancelled_batch_sends_none_of_its_messages_not_yet_started(stub_providers, settings):
    settings.SMS_CONCURRENCY = 2
    stub_providers.configure(latency_ms=100)
    channel = get_channel("sms")

    ahead = channel.submit_batch([sms(n) for n in numbers(4)])
    behind = channel.submit_batch([sms(n) for n in numbers(4, start=10)])
    assert behind.cancel()
    assert all(isinstance(r, SendResult) for r in ahead.result(timeout=10))
    # And the pool goes on with the next batch.
    assert all(isinstance(r, SendResult) for r in channel.send_batch([sms(n) for n in numbers(2, start=20)]))

    sent = {r["to"][0] for r in stub_providers.received("sms")}
    assert sent == {*numbers(4), *numbers(2, start=20)}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_sends_on_a_sender_loop_of_its_own(stub_providers):
    channel = get_channel("sms")
    assert isinstance(channel.send(sms("+447700900001")), SendResult)  # the parent's loop is running

    pid = os.fork()
    if pid == 0:  # the child: exit at once whatever happens, never back into pytest
        code = 1
        try:
            results = channel.send_batch([sms(n) for n in numbers(5, start=40)])
            code = 0 if all(isinstance(r, SendResult) for r in results) else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + 20
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung")
        time.sleep(0.02)

    assert os.waitstatus_to_exitcode(status) == 0
    assert {r["to"][0] for r in stub_providers.received("sms")} >= set(numbers(5, start=40))
    assert isinstance(channel.send(sms("+447700900002")), SendResult)  # and the parent's still works
