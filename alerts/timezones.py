"""The post's time zone, and how staff are told which zone a time is in.

Times are stored, logged and sent to citizens in UTC (``settings.TIME_ZONE``). Staff at
the post think in its own zone (``settings.EMBASSY_TIME_ZONE``, e.g. Asia/Kabul), which
the console and the Django admin turn on for their pages (``alerts.console.middleware``). The helpers here
name whichever zone is active, so every time shown to staff can say what it is.
"""

from __future__ import annotations

import datetime
import zoneinfo

from django.conf import settings
from django.utils import timezone
from django.utils.translation import get_language_bidi, gettext

# Zone names that mean "no place": they are labelled by their offset alone.
_PLACELESS = {"UTC", "UCT", "GMT", "Zulu", "Universal", "Greenwich"}


def post_time_zone() -> zoneinfo.ZoneInfo:
    """The zone staff at this post read and type times in (validated at start-up)."""
    return zoneinfo.ZoneInfo(settings.EMBASSY_TIME_ZONE)


def zone_name(zone: datetime.tzinfo | None = None) -> str:
    """The IANA name of ``zone`` (the active zone by default): "Asia/Kabul"."""
    zone = zone or timezone.get_current_timezone()
    return getattr(zone, "key", None) or str(zone)


def utc_offset(moment: datetime.datetime | None = None, zone: datetime.tzinfo | None = None) -> str:
    """``zone``'s offset at ``moment`` (now by default) as "UTC+04:30"; "UTC" when none.

    ``zone`` defaults to the active zone. The offset is that of ``moment``: in a zone
    with summer time it differs between a January and a July date.
    """
    zone = zone or timezone.get_current_timezone()
    local = (moment or timezone.now()).astimezone(zone)
    offset = local.utcoffset() or datetime.timedelta(0)
    if not offset:
        return "UTC"
    sign = "+" if offset > datetime.timedelta(0) else "-"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def isolate(text: str) -> str:
    """``text`` (a time, an offset, a Latin place name) kept whole inside right-to-left
    words: on a Dari page "(UTC+04:30)" would otherwise lose its closing bracket to the
    far end of the line. Unchanged for left-to-right languages."""
    return f"\u2068{text}\u2069" if get_language_bidi() else text


def _place(name: str) -> str:
    """The place a zone is named after: "Asia/Kabul" -> "Kabul"; "" for UTC and Etc/..."""
    if name.startswith("Etc/") or name in _PLACELESS:
        return ""
    return name.rsplit("/", 1)[-1].replace("_", " ")


def zone_label(zone: datetime.tzinfo | None = None, at: datetime.datetime | None = None) -> str:
    """The zone as staff read it: "Kabul time (UTC+04:30)", or "UTC" for UTC itself.

    ``zone`` defaults to the active zone, ``at`` (whose offset is shown) to now.
    """
    zone = zone or timezone.get_current_timezone()
    offset = utc_offset(at, zone)
    place = _place(zone_name(zone))
    if not place:
        return isolate(offset)
    return gettext("%(place)s time (%(offset)s)") % {"place": isolate(place), "offset": isolate(offset)}
