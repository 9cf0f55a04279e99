"""Console pages read and show times in the post's own time zone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from alerts.timezones import post_time_zone

_ACTIVE = "_console_time_zone_active"


class ConsoleTimeZoneMiddleware:
    """Turn on ``settings.EMBASSY_TIME_ZONE`` for views of the ``console`` namespace.

    From the view until its response is rendered, every time a console page shows and
    every date or time typed into a console form is in the post's zone. Everything
    else (citizens' pages, webhooks, tasks, what is stored) keeps UTC.
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
        match = request.resolver_match
        if match is not None and "console" in match.namespaces:
            timezone.activate(post_time_zone())
            setattr(request, _ACTIVE, True)
