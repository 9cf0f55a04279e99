"""Template context for console pages: what the signed-in person may do (for the menu),
and the time zone the page's times are in (on the Django admin's pages too)."""

from __future__ import annotations

from django.http import HttpRequest

from alerts.console.middleware import is_staff_page
from alerts.console.permissions import Capability, can, is_console_user
from alerts.models import ChannelPause
from alerts.timezones import isolate, utc_offset, zone_label, zone_name
from embassy.health import background_problems


def console(request: HttpRequest) -> dict[str, object]:
    """``console_can`` maps capability names to booleans, ``channel_pauses`` lists the
    channels paused because their provider refused our account, and
    ``background_problems`` what has stopped out of staff's sight (Redis, beat, a send
    queue's workers: ``embassy.health.background_problems``), each shown on every console
    page; all empty outside the console. ``console_time_zone`` names the zone the
    page's times are in (the post's, turned on by ``ConsoleTimeZoneMiddleware``): its
    IANA ``name``, a ``label`` for staff ("Kabul time (UTC+04:30)") and its ``offset``;
    the Django admin's pages get it alone (``templates/admin/base_site.html`` shows it)."""
    if not request.path.startswith("/console/"):
        if is_staff_page(request):
            return {"console_time_zone": _zone()}
        return {}
    zone = _zone()
    user = getattr(request, "user", None)
    if user is None or not is_console_user(user):
        return {"console_can": {}, "console_time_zone": zone}
    return {
        "console_can": {c.value: can(user, c) for c in Capability},
        "channel_pauses": list(ChannelPause.objects.order_by("channel")),
        "background_problems": background_problems(),
        "console_time_zone": zone,
    }


def _zone() -> dict[str, str]:
    return {"name": zone_name(), "label": zone_label(), "offset": isolate(utc_offset())}
