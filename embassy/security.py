"""Response headers Django and django-csp do not send themselves."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from django.conf import settings
from django.http import HttpRequest, HttpResponse


def permissions_policy(features: Mapping[str, Sequence[str]]) -> str:
    """The ``Permissions-Policy`` header's value: ``camera=()`` for a feature no page may
    use, ``geolocation=(self)`` for one this site's own pages may ask for."""
    return ", ".join(f"{name}=({' '.join(origins)})" for name, origins in features.items())


class PermissionsPolicyMiddleware:
    """Send ``settings.PERMISSIONS_POLICY`` on every response that has none yet."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.value = permissions_policy(settings.PERMISSIONS_POLICY)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.value:
            response.headers.setdefault("Permissions-Policy", self.value)
        return response
