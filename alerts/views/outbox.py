"""The development outbox page: every SMS and email the embedded default "sent"."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from alerts.console.permissions import can_use_admin
from alerts.models import OutboxMessage


def outbox_list(request: HttpRequest) -> HttpResponse:
    """Show the newest outbox messages. Only with DEBUG on, or to staff who passed the
    second factor, as for the admin: the page holds contact details and verification
    codes (a staging deployment may run with the outbox, ``ALLOW_OUTBOX_BACKENDS``)."""
    if not (settings.DEBUG or can_use_admin(request.user)):
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
