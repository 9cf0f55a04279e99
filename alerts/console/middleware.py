"""Staff pages (the console and the Django admin) read and show times in the post's own
time zone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from alerts.timezones import post_time_zone

_ACTIVE = "_console_time_zone_active"
# URL namespaces of the pages staff read times on: the console's and the Django admin's
# (``admin.site.urls`` is mounted under the namespace "admin").
STAFF_NAMESPACES = frozenset({"console", "admin"})


def is_staff_page(request: HttpRequest) -> bool:
    """Whether ``request`` is for a console or Django admin page (it must have been resolved)."""
    match = getattr(request, "resolver_match", None)
    return match is not None and not STAFF_NAMESPACES.isdisjoint(match.namespaces)


class ConsoleTimeZoneMiddleware:
    """Turn on ``settings.EMBASSY_TIME_ZONE`` for views of the ``console`` and ``admin``
    namespaces.

    From the view until its response is rendered, every time a console or admin page
    shows and every date or time typed into one of their forms is in the post's zone.
    Everything else (citizens' pages, webhooks, tasks, what is stored) keeps UTC.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            return self.get_response(request)
        finally:
            if getattr(request, _ACTIVE, False):
                timezone.deactivate()

    def process_view(self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any) -> None:
        if is_staff_page(request):
            timezone.activate(post_time_zone())
            setattr(request, _ACTIVE, True)
