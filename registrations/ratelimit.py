"""Rate limits on registration and code attempts, per client and per contact address.

Built on django-ratelimit's counters in the cache (Redis in production). A view that is
over a limit answers 429 with a page that says when to try again.

The limits are there against abuse; they must never keep a citizen from registering in
a crisis. When the cache cannot be reached nobody is kept waiting for it: the cache is
not asked again for ``CACHE_RETRY_SECONDS``, and each process counts the same limits in
its own memory meanwhile (``LocalLimits``). With several web processes a client gets
the limit once per process, not once: loose, but not open, so an outage of Redis is no
chance to make the embassy text a thousand numbers. Each process writes one warning a
minute meanwhile (``embassy.breaker``), naming no client and no contact.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import threading
import time

import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_ratelimit.core import is_ratelimited

from embassy.breaker import OutageBreaker
from embassy.client_address import client_address

logger = logging.getLogger(__name__)

#: After the cache failed, limits are not counted for this long before it is asked again.
CACHE_RETRY_SECONDS = 10.0
#: What a cache that cannot be reached raises (Django's Redis cache: redis-py's errors;
#: an address that does not resolve or answer: OSError).
CACHE_ERRORS = (redis.RedisError, OSError)

cache_outage = OutageBreaker(
    logger,
    "rate-limit cache",
    "registration rate limits are counted in each process's memory until it answers",
    retry_after=CACHE_RETRY_SECONDS,
)


class LocalLimits:
    """The rate limits counted in this process's memory, while the cache is down: per
    (group, key), the times of the hits within the limit's period. At most ``max_keys``
    keys are kept (the oldest go first), so a flood of made-up keys cannot fill memory."""

    def __init__(self, max_keys: int = 50_000) -> None:
        self.max_keys = max_keys
        self._hits: collections.OrderedDict[tuple[str, str], collections.deque[float]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def hit(self, group: str, key: str, setting: tuple[int, int]) -> bool:
        """Count one hit; True when it is over the limit (the hit is then not counted)."""
        count, seconds = setting
        now = time.monotonic()
        with self._lock:
            hits = self._hits.pop((group, key), None) or collections.deque()
            while hits and now - hits[0] >= seconds:
                hits.popleft()
            over = len(hits) >= count
            if not over:
                hits.append(now)
            self._hits[(group, key)] = hits  # the most recent last
            while len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
            return over

    def clear(self) -> None:
        with self._lock:
            self._hits.clear()


local_limits = LocalLimits()


def _rate(setting: tuple[int, int]) -> str:
    count, seconds = setting
    return f"{count}/{seconds}s"


def client_key(request: HttpRequest) -> str:
    """The client's address, as staff sign-in's lock-outs see it
    (``embassy.client_address``): behind ``TRUSTED_PROXY_COUNT`` trusted proxies the hop
    the nearest of them saw, never the left-most X-Forwarded-For entry, which the client
    writes itself (a fresh one per request would get a fresh limit)."""
    return client_address(request) or ""


def over_limit(request: HttpRequest, group: str, setting: tuple[int, int], key: str | None = None) -> bool:
    """Count one hit for ``group`` (per client, or per ``key``) and say if it is over.

    Counted in this process's memory when the cache cannot be reached (see the module's
    docstring): an outage of Redis neither refuses everyone nor lets anyone through
    without limit.
    """
    if not settings.RATE_LIMITS_ENABLED:
        return False
    if key is None:
        key_value = client_key(request)
    else:
        # Contact addresses are hashed: cache keys end up in monitoring tools.
        key_value = hashlib.sha256(key.encode()).hexdigest()
    if not cache_outage.available():
        cache_outage.skipped()
        return local_limits.hit(group, key_value, setting)
    try:
        limited = is_ratelimited(
            request,
            group=group,
            key=lambda _group, _request: key_value,
            rate=_rate(setting),
            increment=True,
        )
    except CACHE_ERRORS as exc:
        cache_outage.failed(exc)
        return local_limits.hit(group, key_value, setting)
    cache_outage.answered()
    return limited


def too_many(request: HttpRequest, setting: tuple[int, int]) -> HttpResponse:
    """The 429 page, with Retry-After set to the limit's period."""
    _count, seconds = setting
    response = render(request, "registrations/too_many.html", {"minutes": max(1, seconds // 60)}, status=429)
    response["Retry-After"] = str(seconds)
    return response
