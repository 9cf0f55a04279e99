"""Rate limits on registration and code attempts, per client and per contact address.

Built on django-ratelimit's counters in the cache (Redis in production). A view that is
over a limit answers 429 with a page that says when to try again.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_ratelimit.core import is_ratelimited


def _rate(setting: tuple[int, int]) -> str:
    count, seconds = setting
    return f"{count}/{seconds}s"


def client_key(request: HttpRequest) -> str:
    """The client's address: the first X-Forwarded-For hop only behind a trusted proxy."""
    if settings.TRUST_FORWARDED_HEADERS:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.META.get("REMOTE_ADDR", "")


def over_limit(request: HttpRequest, group: str, setting: tuple[int, int], key: str | None = None) -> bool:
    """Count one hit for ``group`` (per client, or per ``key``) and say if it is over."""
    if not settings.RATE_LIMITS_ENABLED:
        return False
    if key is None:
        key_value = client_key(request)
    else:
        # Contact addresses are hashed: cache keys end up in monitoring tools.
        key_value = hashlib.sha256(key.encode()).hexdigest()
    return is_ratelimited(
        request,
        group=group,
        key=lambda _group, _request: key_value,
        rate=_rate(setting),
        increment=True,
    )


def too_many(request: HttpRequest, setting: tuple[int, int]) -> HttpResponse:
    """The 429 page, with Retry-After set to the limit's period."""
    _count, seconds = setting
    response = render(request, "registrations/too_many.html", {"minutes": max(1, seconds // 60)}, status=429)
    response["Retry-After"] = str(seconds)
    return response
