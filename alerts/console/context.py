"""Template context for console pages: what the signed-in person may do (for the menu)."""

from __future__ import annotations

from django.http import HttpRequest

from alerts.console.permissions import Capability, can, is_console_user
from alerts.models import ChannelPause


def console(request: HttpRequest) -> dict[str, object]:
    """``console_can`` maps capability names to booleans, ``channel_pauses`` lists the
    channels paused because their provider refused our account (shown on every console
    page); both empty outside the console."""
    if not request.path.startswith("/console/"):
        return {}
    user = getattr(request, "user", None)
    if user is None or not is_console_user(user):
        return {"console_can": {}}
    return {
        "console_can": {c.value: can(user, c) for c in Capability},
        "channel_pauses": list(ChannelPause.objects.order_by("channel")),
    }
