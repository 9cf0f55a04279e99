"""A rate limit shared by every worker: messages per second per SMS sender, in Redis.

The limiter is a GCRA ("generic cell rate algorithm", the token bucket written as one
timestamp): Redis keeps the *theoretical arrival time* of the next message per sender;
each ``acquire`` atomically reserves the next free slot, ``1/rate`` seconds after the
previous one, by a Lua script that reads the clock with Redis ``TIME``, so every worker
on every machine shares one clock and one queue of slots. The caller then sleeps until
its slot. Slots are spaced evenly, so any one-second window holds at most ``rate``
messages (plus ``burst``), however many workers send.

A reservation further ahead than ``max_wait`` is not taken; ``acquire`` sleeps and asks
again, so a crowd of waiting workers does not book the next minute. A caller that wakes
up later than ``late_after`` past its slot (a busy event loop, a loaded machine) does not
send on that stale slot, which would bunch it with the slots after it: it books a new one
(at most ``max_rebooks`` times, so that a starved machine still makes progress).
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass

from django.conf import settings

# KEYS[1]: the sender's key. ARGV: interval, burst and max_wait in microseconds.
# Returns {1, wait_us} when a slot was reserved (send after wait_us), {0, wait_us} if not.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat - burst - now
if wait < 0 then wait = 0 end
if wait > max_wait then return {0, wait} end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.floor((new_tat - now) / 1000) + 1000)
return {1, wait}
"""

_clients: dict[str, object] = {}
_clients_lock = threading.Lock()


def _redis(url: str) -> object:
    import redis

    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
            _clients[url] = client
        return client


@dataclass
class RedisRateLimiter:
    """``rate`` messages per second for ``name``, shared through Redis at ``url``."""

    name: str
    rate: float
    url: str
    burst: int = 0  # extra messages allowed back to back (0: strictly evenly spaced)
    max_wait: float = 1.0  # seconds: the furthest ahead one reservation may be
    late_after: float | None = None  # seconds past the slot that make it stale (default: two intervals)
    max_rebooks: int = 3  # then a late slot is used anyway: progress over precision

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError("rate must be positive")
        client = _redis(self.url)
        self._script = client.register_script(_GCRA)  # type: ignore[attr-defined]
        self._key = f"ratelimit:{self.name}"
        self._interval_us = int(1_000_000 / self.rate)
        self._burst_us = self.burst * self._interval_us
        self._max_wait_us = int(self.max_wait * 1_000_000)
        if self.late_after is None:
            self.late_after = min(0.1, max(0.02, 2.0 / self.rate))

    def try_reserve(self) -> tuple[bool, float]:
        """Reserve the next slot if it is within ``max_wait``.

        Returns (reserved, seconds): when reserved, send after ``seconds``; when not, the
        next slot is ``seconds`` away and nothing was booked.
        """
        reserved, wait_us = self._script(keys=[self._key], args=[self._interval_us, self._burst_us, self._max_wait_us])
        return bool(reserved), int(wait_us) / 1_000_000

    def _use(self, slot: float, rebooks: int) -> bool:
        """Whether to send on ``slot`` now: on time, or re-booked often enough already."""
        return time.monotonic() - slot <= (self.late_after or 0.0) or rebooks >= self.max_rebooks

    def acquire(self) -> None:
        """Block until this caller may send one message."""
        rebooks = 0
        while True:
            reserved, wait = self.try_reserve()
            if reserved:
                slot = time.monotonic() + wait
                if wait > 0:
                    time.sleep(wait)
                if self._use(slot, rebooks):
                    return
                rebooks += 1  # woke too late: that slot is gone, book another
                continue
            time.sleep(max(0.001, min(wait - self.max_wait, self.max_wait)))

    async def acquire_async(self) -> None:
        """``acquire`` for asyncio code: waits without blocking the event loop."""
        rebooks = 0
        while True:
            reserved, wait = self.try_reserve()
            if reserved:
                slot = time.monotonic() + wait
                if wait > 0:
                    await asyncio.sleep(wait)
                if self._use(slot, rebooks):
                    return
                rebooks += 1
                continue
            await asyncio.sleep(max(0.001, min(wait - self.max_wait, self.max_wait)))


class LocalRateLimiter:
    """The same evenly spaced slots within one process (the embedded default has no Redis)."""

    def __init__(self, name: str, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.name = name
        self.interval = 1.0 / rate
        self._next = 0.0
        self._lock = threading.Lock()

    def _reserve(self) -> float:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
            return slot - now

    def acquire(self) -> None:
        wait = self._reserve()
        if wait > 0:
            time.sleep(wait)

    async def acquire_async(self) -> None:
        wait = self._reserve()
        if wait > 0:
            await asyncio.sleep(wait)


def sms_sender_name() -> str:
    """The SMS sender the rate applies to: the messaging service, else the from-number."""
    return settings.TWILIO_MESSAGING_SERVICE_SID or settings.TWILIO_FROM_NUMBER or "default"


_local: dict[tuple[str, float], LocalRateLimiter] = {}


def sms_rate_limiter() -> RedisRateLimiter | LocalRateLimiter:
    """The shared limiter for the configured SMS sender at ``SMS_RATE_PER_SECOND``."""
    name = f"sms:{sms_sender_name()}"
    rate = float(settings.SMS_RATE_PER_SECOND)
    if settings.REDIS_URL:
        return RedisRateLimiter(name=name, rate=rate, url=settings.REDIS_URL)
    key = (name, rate)
    if key not in _local:
        _local[key] = LocalRateLimiter(name, rate)
    return _local[key]
