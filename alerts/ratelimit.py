"""A rate limit shared by every worker: messages per second per SMS sender, in Redis.

The limiter is a GCRA ("generic cell rate algorithm", the token bucket written as one
timestamp): Redis keeps the *theoretical arrival time* of the next message per sender;
each ``acquire`` atomically reserves the next free slot, ``1/rate`` seconds after the
previous one (coroutines asking together reserve consecutive slots at once), by a Lua
script that reads the clock with Redis ``TIME``, so every worker
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
import collections
import threading
import time
from dataclasses import dataclass

from django.conf import settings

# KEYS[1]: the sender's key. ARGV: interval, burst and max_wait in microseconds, and how
# many slots to reserve. Returns {k, wait_1, ..., wait_k, next_wait}: k slots reserved
# (k <= count; send the i-th after wait_i), and how far away the first slot not
# reserved is (when k < count, because it was beyond max_wait).
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local count = tonumber(ARGV[4] or 1)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local out = {0}
local wait = 0
for i = 1, count do
  wait = tat - burst - now
  if wait < 0 then wait = 0 end
  if wait > max_wait then break end
  out[1] = i
  out[#out + 1] = wait
  tat = tat + interval
  wait = tat - burst - now
  if wait < 0 then wait = 0 end
end
if out[1] > 0 then
  redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.floor((tat - now) / 1000) + 1000)
end
out[#out + 1] = wait
return out
"""

#: The most slots one Redis round trip reserves for the coroutines waiting together.
MAX_SLOTS_PER_CALL = 256
#: How far ahead a process books spare slots for its next callers: below 50/s none (so
#: slots are never held by one process), at 100/s two, at 1,000/s twenty, then at most 256.
SPARE_SECONDS = 0.02

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
        self._waiting: dict[asyncio.AbstractEventLoop, list[asyncio.Future[tuple[bool, float]]]] = {}
        self._spare: collections.deque[float] = collections.deque()  # monotonic times of booked slots

    def try_reserve(self) -> tuple[bool, float]:
        """Reserve the next slot if it is within ``max_wait``.

        Returns (reserved, seconds): when reserved, send after ``seconds``; when not, the
        next slot is ``seconds`` away and nothing was booked.
        """
        return self.try_reserve_many(1)[0]

    def try_reserve_many(self, count: int) -> list[tuple[bool, float]]:
        """Reserve up to ``count`` consecutive slots in one round trip, each as ``try_reserve``.

        The first k within ``max_wait`` are booked, ``(True, wait)`` each; the rest come
        back ``(False, wait)`` with the wait of the first slot not booked.
        """
        out = self._script(keys=[self._key], args=[self._interval_us, self._burst_us, self._max_wait_us, max(1, count)])
        booked = int(out[0])
        waits = [(True, int(w) / 1_000_000) for w in out[1 : 1 + booked]]
        return waits + [(False, int(out[-1]) / 1_000_000)] * (count - booked)

    async def _reserve_async(self) -> tuple[bool, float]:
        """``try_reserve`` for a coroutine: the coroutines asking in the same turn of the
        event loop share one Redis round trip (up to ``MAX_SLOTS_PER_CALL`` slots), and
        at a high rate that round trip books the next ``SPARE_SECONDS`` of slots too,
        handed to the next callers of this process without asking Redis again."""
        while self._spare:
            slot = self._spare.popleft()
            wait = slot - time.monotonic()
            if wait >= -(self.late_after or 0.0):  # a spare slot gone stale is dropped, never used late
                return True, max(0.0, wait)
        loop = asyncio.get_running_loop()
        waiting = self._waiting.setdefault(loop, [])
        future: asyncio.Future[tuple[bool, float]] = loop.create_future()
        waiting.append(future)
        if len(waiting) == 1:
            loop.call_soon(self._reserve_for, loop)
        return await future

    def _reserve_for(self, loop: asyncio.AbstractEventLoop) -> None:
        waiting = self._waiting.pop(loop, [])
        for start in range(0, len(waiting), MAX_SLOTS_PER_CALL):
            futures = waiting[start : start + MAX_SLOTS_PER_CALL]
            spare = min(MAX_SLOTS_PER_CALL - len(futures), int(self.rate * SPARE_SECONDS))
            try:
                answers = self.try_reserve_many(len(futures) + max(0, spare))
                now = time.monotonic()
                self._spare.extend(now + wait for booked, wait in answers[len(futures) :] if booked)
                answers = answers[: len(futures)]
            except Exception as exc:  # each waiter gets the error, as a blocking call would
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for future, answer in zip(futures, answers, strict=True):
                if not future.done():
                    future.set_result(answer)

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
        """``acquire`` for asyncio code: waits without blocking the event loop.

        Coroutines asking at the same time reserve their slots in one Redis round trip.
        """
        rebooks = 0
        while True:
            reserved, wait = await self._reserve_async()
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


_shared: dict[tuple[str, float, str], RedisRateLimiter] = {}


def sms_rate_limiter() -> RedisRateLimiter | LocalRateLimiter:
    """The shared limiter for the configured SMS sender at ``SMS_RATE_PER_SECOND``.

    One object per process and sender, so that every batch in flight in the process
    reserves its slots together.
    """
    name = f"sms:{sms_sender_name()}"
    rate = float(settings.SMS_RATE_PER_SECOND)
    if settings.REDIS_URL:
        shared_key = (name, rate, settings.REDIS_URL)
        if shared_key not in _shared:
            _shared[shared_key] = RedisRateLimiter(name=name, rate=rate, url=settings.REDIS_URL)
        return _shared[shared_key]
    key = (name, rate)
    if key not in _local:
        _local[key] = LocalRateLimiter(name, rate)
    return _local[key]
