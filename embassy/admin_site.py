"""The Django admin behind the console's sign-in and its second factor.

The admin shows citizens' contact details, so a password alone must never open it. It
has no sign-in of its own: its login page sends people to the console's (one form, one
set of django-axes lock-out rules, one enrolment path for authenticators), and every
admin page, password change included, needs a session that passed a TOTP check
(``alerts.console.permissions.can_use_admin``). Signing out of the admin is the
console's sign-out.

``embassy.apps.StaffAdminConfig`` replaces ``django.contrib.admin`` in ``INSTALLED_APPS``
so that ``admin.site`` (and every ``@admin.register``) is this site.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.admin import AdminSite
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django_otp import user_has_device


class StaffAdminSite(AdminSite):
    def has_permission(self, request: HttpRequest) -> bool:
        """Active staff whose session passed two-factor authentication; nobody else."""
        from alerts.console.permissions import can_use_admin

        return can_use_admin(request.user)

    @method_decorator(never_cache)
    @method_decorator(login_not_required)
    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Never a form of its own: on to the console's sign-in, or to the second factor
        for a staff member signed in with a password alone. Nothing is authenticated here,
        so there is no second place to guess passwords at."""
        target = self._next_url(request)
        user = request.user
        if self.has_permission(request):
            return HttpResponseRedirect(target)
        if not user.is_authenticated:
            return _to("console:login", target)
        if not (user.is_active and user.is_staff):
            raise PermissionDenied  # signed in to the console, but the admin is not theirs
        return _to("console:otp-verify" if user_has_device(user) else "console:otp-enrol", target)

    def logout(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """The console's sign-out (recorded in the audit trail; POST only, as Django's)."""
        from alerts.console.views.auth import logout_view

        return logout_view(request)

    def _next_url(self, request: HttpRequest) -> str:
        target = request.GET.get(REDIRECT_FIELD_NAME, "")
        if target and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return target
        return reverse("admin:index", current_app=self.name)


def _to(step: str, target: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(resolve_url(step) + "?" + urlencode({REDIRECT_FIELD_NAME: target}))
