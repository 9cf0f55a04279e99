"""Signing in and out, and two-factor verification and enrolment."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from alerts.console import otp
from alerts.console.audit import record_audit
from alerts.console.forms import CodeForm, LoginForm, SetupCodeForm
from alerts.console.permissions import is_console_user, is_otp_verified, requires_otp


def _next_url(request: HttpRequest, default: str = "console:situation") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return resolve_url(default)


@sensitive_post_parameters("password", "otp_token")
@csrf_protect
@never_cache
def login_view(request: HttpRequest) -> HttpResponse:
    form = LoginForm(request, request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.user
        login(request, user)
        if form.device is not None:
            otp_login(request, form.device)
        record_audit(user, "login", user, None, {"two_factor": form.device is not None})
        # Staff without a console role sign in here only for the Django admin.
        target = _next_url(request, "console:situation" if is_console_user(user) else "admin:index")
        if requires_otp(user) and form.device is None:
            # An approver or administrator without an authenticator yet: enrol first.
            return redirect(resolve_url("console:otp-enrol") + "?next=" + target)
        return redirect(target)
    return render(request, "alerts/console/login.html", {"form": form, "next": _next_url(request)})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        record_audit(request.user, "logout", request.user)
    logout(request)
    messages.info(request, _("You are signed out."))
    return redirect("console:login")


@sensitive_post_parameters("otp_token")
@never_cache
@login_required
def otp_verify_view(request: HttpRequest) -> HttpResponse:
    """A signed-in session that still needs its second factor (e.g. a role was just added)."""
    if is_otp_verified(request.user):
        return redirect(_next_url(request))
    if not otp.confirmed_devices(request.user):
        return redirect(resolve_url("console:otp-enrol") + "?next=" + _next_url(request))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = otp.verify_code(request.user, form.cleaned_data["otp_token"])
        if device is not None:
            otp_login(request, device)
            record_audit(request.user, "otp_verified", request.user)
            return redirect(_next_url(request))
        form.add_error("otp_token", _("That authentication code is not right."))
    return render(request, "alerts/console/otp_verify.html", {"form": form, "next": _next_url(request)})


@sensitive_post_parameters("otp_token")
@never_cache
@login_required
def otp_enrol_view(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator for a user who has none: show the secret, confirm a code.

    Once a device is confirmed this page sends the user to verification instead, so
    a stolen password alone can never add a second authenticator.
    """
    user = request.user
    if otp.confirmed_devices(user):
        return redirect(resolve_url("console:otp-verify") + "?next=" + _next_url(request))
    if settings.OTP_ENROLMENT_NEEDS_SETUP_CODE and request.session.get(SETUP_CODE_SESSION_KEY) != user.pk:
        return _setup_code_step(request)
    device = otp.pending_device(user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        confirmed = otp.confirm_enrolment(user, form.cleaned_data["otp_token"])
        if confirmed is not None:
            otp_login(request, confirmed)
            request.session.pop(SETUP_CODE_SESSION_KEY, None)
            record_audit(user, "otp_enrolled", user, None, {"device": confirmed.name})
            messages.success(request, _("Your authenticator is set up."))
            return redirect(_next_url(request))
        form.add_error("otp_token", _("That code does not match. Check the time on your phone and try again."))
    return render(
        request,
        "alerts/console/otp_enrol.html",
        {
            "form": form,
            "next": _next_url(request),
            "secret": otp.base32_secret(device),
            "otpauth_uri": device.config_url,
        },
    )


#: The session of a user who has just given their set-up code may see the secret.
SETUP_CODE_SESSION_KEY = "console_otp_setup_code_for"


def _setup_code_step(request: HttpRequest) -> HttpResponse:
    """Before the authenticator's secret is shown: the one-time set-up code an
    administrator issued (OTP_ENROLMENT_NEEDS_SETUP_CODE)."""
    form = SetupCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if otp.redeem_setup_code(request.user, form.cleaned_data["setup_code"]):
            request.session[SETUP_CODE_SESSION_KEY] = request.user.pk
            record_audit(request.user, "otp_setup_code_used", request.user)
            return redirect(resolve_url("console:otp-enrol") + "?next=" + _next_url(request))
        record_audit(request.user, "otp_setup_code_refused", request.user)
        form.add_error(
            "setup_code", _("That set-up code is not right, was used already or has expired. Ask an administrator.")
        )
    return render(request, "alerts/console/otp_setup_code.html", {"form": form, "next": _next_url(request)})
