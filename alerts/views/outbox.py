"""The development outbox page: every SMS and email the embedded default "sent"."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from alerts.models import OutboxMessage


def outbox_list(request: HttpRequest) -> HttpResponse:
    """Show the newest outbox messages. Only with DEBUG on, or to signed-in staff:
    the page holds contact details."""
    if not (settings.DEBUG or (request.user.is_authenticated and request.user.is_staff)):
        raise Http404
    channel = request.GET.get("channel", "")
    messages = OutboxMessage.objects.all()
    if channel in ("sms", "email"):
        messages = messages.filter(channel=channel)
    return render(
        request,
        "alerts/outbox.html",
        {"outbox_messages": messages[:200], "channel": channel, "total": messages.count()},
    )
