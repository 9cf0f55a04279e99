"""Rate limits on registration and code attempts, per client and per contact address.

Built on django-ratelimit's counters in the cache (Redis in production). A view that is
over a limit answers 429 with a page that says when to try again.

The limits are there against abuse; they must never keep a citizen from registering in
a crisis. When the cache cannot be reached they fail open: nothing is counted, nobody is
refused, and the cache is not asked again for ``CACHE_RETRY_SECONDS`` (a citizen does
not wait for an unreachable Redis at every limit). Each process writes one warning a
minute meanwhile (``embassy.breaker``), naming no client and no contact.
"""

from __future__ import annotations

import hashlib
import logging

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
    "registration rate limits are off (failing open) until it answers",
    retry_after=CACHE_RETRY_SECONDS,
)


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

    False, without counting, when the cache cannot be reached (see the module's
    docstring): an outage of Redis lets everyone through rather than nobody.
    """
    if not settings.RATE_LIMITS_ENABLED:
        return False
    if not cache_outage.available():
        cache_outage.skipped()
        return False
    if key is None:
        key_value = client_key(request)
    else:
        # Contact addresses are hashed: cache keys end up in monitoring tools.
        key_value = hashlib.sha256(key.encode()).hexdigest()
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
        return False
    cache_outage.answered()
    return limited


def too_many(request: HttpRequest, setting: tuple[int, int]) -> HttpResponse:
    """The 429 page, with Retry-After set to the limit's period."""
    _count, seconds = setting
    response = render(request, "registrations/too_many.html", {"minutes": max(1, seconds // 60)}, status=429)
    response["Retry-After"] = str(seconds)
    return response
