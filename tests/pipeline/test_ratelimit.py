"""The shared SMS rate limit: evenly spaced slots handed out by Redis to every caller."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from django.conf import settings

from alerts.ratelimit import RedisRateLimiter
from tests.pipeline.e2e import most_in_any_second

pytestmark = pytest.mark.redis


def test_many_threads_with_separate_limiters_share_one_rate() -> None:
    name = f"test:{uuid.uuid4().hex}"
    stamps: list[float] = []
    lock = threading.Lock()

    def caller() -> None:
        limiter = RedisRateLimiter(name=name, rate=40, url=settings.REDIS_URL)
        for _ in range(15):
            limiter.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=caller) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stamps) == 90
    assert most_in_any_second(stamps) <= 40 + 2  # a sleep may wake a few ms late
    assert max(stamps) - min(stamps) >= (90 - 41) / 40  # and it did hold them back


def test_a_slot_too_far_ahead_is_not_booked() -> None:
    limiter = RedisRateLimiter(name=f"test:{uuid.uuid4().hex}", rate=2, url=settings.REDIS_URL, max_wait=0.6)
    assert limiter.try_reserve() == (True, 0.0)
    reserved, wait = limiter.try_reserve()
    assert reserved and 0.4 < wait <= 0.5
    reserved, wait = limiter.try_reserve()
    assert not reserved and wait > 0.6


def test_coroutines_asking_together_share_one_round_trip_and_the_rate() -> None:
    import asyncio

    limiter = RedisRateLimiter(name=f"test:{uuid.uuid4().hex}", rate=40, url=settings.REDIS_URL)
    calls: list[int] = []
    reserve_many = limiter.try_reserve_many

    def counting(count: int) -> list[tuple[bool, float]]:
        calls.append(count)
        return reserve_many(count)

    limiter.try_reserve_many = counting  # type: ignore[method-assign]
    stamps: list[float] = []

    async def one() -> None:
        await limiter.acquire_async()
        stamps.append(time.monotonic())

    async def crowd() -> None:
        await asyncio.gather(*(one() for _ in range(60)))

    # A thread of its own: other tests (Playwright's sync API) may leave a loop running in this one.
    thread = threading.Thread(target=lambda: asyncio.run(crowd()))
    thread.start()
    thread.join(30)
    assert len(stamps) == 60
    assert calls[0] > 1  # the first turn of the loop booked many slots at once
    assert most_in_any_second(stamps) <= 40 + 2
    assert max(stamps) - min(stamps) >= (60 - 41) / 40
