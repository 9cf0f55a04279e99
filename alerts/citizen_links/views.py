"""Unsubscribe and check-in pages behind signed links.

GET only shows a page: mail scanners and link previews fetch every link in an email, so
following a link must never change anything. The change is a POST. Both POSTs are
CSRF-exempt on purpose: the signed token in the URL is what authorises them (a forger
without it can do nothing), RFC 8058 one-click unsubscribe comes from mail providers
with no cookies and no CSRF token, and a citizen checking in on a failing phone must not
be refused over a lost cookie.

Both pages are in the citizen's own language, not the browser's, unless this browser
picked one with the site's language switcher (``registrations.languages``).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from alerts.models import Alert, CheckIn
from alerts.services.alert_words import alert_words
from alerts.services.checkins import record_check_in
from alerts.services.links import STATUS_SLUGS, InvalidLink, load_check_in_token, load_unsubscribe_token
from alerts.services.opt_outs import opt_out_email
from registrations.languages import use_citizen_language


def _mask_email(address: str) -> str:
    """ "a•••@example.org": enough for the owner to recognise, little for anyone else."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "•••"


def _invalid(request: HttpRequest) -> HttpResponse:
    return render(request, "alerts/link_invalid.html", status=404)


def _alert_line(alert: Alert | None, language: str) -> SafeString | str:
    """The alert being answered, in its own words (never the staff's title), isolated in
    a ``<bdi>`` so that an English line reads right on a Dari page; "" for none."""
    words = alert_words(alert, language) if alert is not None else None
    if words is None:
        return ""
    return format_html('<bdi lang="{}">{}</bdi>', words.language, words.text)


@csrf_exempt
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: a page with an unsubscribe button. POST (the button, or a one-click client): opt out."""
    try:
        target = load_unsubscribe_token(token)
    except InvalidLink:
        return _invalid(request)
    use_citizen_language(request, target.citizen)
    if target.address is None:
        # The citizen has changed address since: no alert email goes to the old one.
        return render(request, "alerts/unsubscribe_done.html", {"masked_address": ""})
    context: dict[str, object] = {"masked_address": _mask_email(target.address)}
    if request.method != "POST":
        context["already"] = target.citizen.email_opted_out_at is not None
        return render(request, "alerts/unsubscribe.html", context)
    opt_out_email(target.address, source="unsubscribe link")
    return render(request, "alerts/unsubscribe_done.html", context)


@csrf_exempt
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def check_in(request: HttpRequest, token: str, answer: str | None = None) -> HttpResponse:
    """GET: the three answers as buttons (or one confirm button for ``answer``).
    POST: record the chosen answer as a check-in (source link), then show it."""
    try:
        target = load_check_in_token(token)
    except InvalidLink:
        return _invalid(request)
    if answer is not None and answer not in STATUS_SLUGS:
        return _invalid(request)
    language = use_citizen_language(request, target.citizen)
    choices = [(slug, CheckIn.Status(status).label) for slug, status in STATUS_SLUGS.items()]
    if request.method == "POST":
        slug = request.POST.get("answer") or answer or ""
        if slug not in STATUS_SLUGS:
            context = {
                "choices": choices,
                "alert_line": _alert_line(target.alert, language),
                "error": True,
                "token": token,
            }
            return render(request, "alerts/check_in.html", context, status=400)
        record_check_in(target.citizen, STATUS_SLUGS[slug], source=CheckIn.Source.LINK, alert=target.alert)
        # Post/redirect/get: reloading the thank-you page records nothing twice.
        return redirect(reverse("links:check-in", args=[token]) + f"?recorded={slug}")
    recorded = request.GET.get("recorded")
    context = {
        "alert_line": _alert_line(target.alert, language),
        "token": token,
        "choices": choices,
        "answer": answer,
        "answer_label": CheckIn.Status(STATUS_SLUGS[answer]).label if answer else "",
        "recorded_label": CheckIn.Status(STATUS_SLUGS[recorded]).label if recorded in STATUS_SLUGS else "",
    }
    return render(request, "alerts/check_in.html", context)
