"""Channels paused because their provider cannot take our messages for now.

When Twilio or SendGrid refuses our credentials or sender (``ChannelError.account``),
or answers request after request with server errors (``ChannelError.outage``,
``CHANNEL_OUTAGE_AFTER`` in a row in one process with nothing accepted), every message
on that channel would fail the same way until the configuration is fixed or the
provider is back. Failing the deliveries would lose them; retrying each one would spend
their attempts within minutes and hammer the provider. So the channel pauses
(``ChannelPause``):

- the refused deliveries wait as RETRY until the pause's end, their attempt not counted;
- send tasks claim nothing on a paused channel (they hand their deliveries back to the
  sweep), and the sweep queues nothing on it;
- the console shows the pause on every page, ``/healthz`` names the channel;
- at the pause's end the sweep queues the waiting deliveries again: the first request
  the provider accepts ends the pause, a refusal renews it.

Whether a channel is paused is read from the database at most once per
``CHANNEL_PAUSE_CHECK_SECONDS`` per process (send tasks ask before every round).
"""

from __future__ import annotations

import datetime
import logging
import threading
import time

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from alerts.channels.base import ChannelError
from alerts.models import ChannelPause

logger = logging.getLogger(__name__)

_seen: dict[str, tuple[float, ChannelPause | None]] = {}
_seen_lock = threading.Lock()
#: Server-error answers per channel in this process since the provider last accepted one.
_failing: dict[str, int] = {}


def forget() -> None:
    """Drop this process's remembered pauses (the next question reads the database)."""
    with _seen_lock:
        _seen.clear()


def reset() -> None:
    """Forget the pauses and the server errors counted (a test's fresh start)."""
    forget()
    with _seen_lock:
        _failing.clear()


def count_outage(channel: str, accepted: int, server_errors: int) -> bool:
    """Count one round's answers; True when the provider now looks down.

    ``server_errors`` distinct requests answered 5xx; any ``accepted`` starts the count
    again. Down: ``CHANNEL_OUTAGE_AFTER`` server errors in a row in this process.
    """
    with _seen_lock:
        if accepted:
            _failing.pop(channel, None)
            return False
        _failing[channel] = _failing.get(channel, 0) + server_errors
        down = _failing[channel] >= settings.CHANNEL_OUTAGE_AFTER
        if down:
            _failing.pop(channel, None)
        return down


def channel_pause(channel: str) -> ChannelPause | None:
    """The channel's pause, ended or not (None: the provider last accepted us)."""
    now = time.monotonic()
    with _seen_lock:
        seen = _seen.get(channel)
    if seen is not None and now - seen[0] < settings.CHANNEL_PAUSE_CHECK_SECONDS:
        return seen[1]
    pause = ChannelPause.objects.filter(channel=channel).first()
    with _seen_lock:
        _seen[channel] = (now, pause)
    return pause


def is_paused(pause: ChannelPause | None, now: datetime.datetime | None = None) -> bool:
    """Whether ``pause`` still holds sending back (its end has not come)."""
    return pause is not None and pause.until > (now or timezone.now())


def paused_channels(now: datetime.datetime | None = None) -> set[str]:
    """The channels whose pause has not ended, read from the database."""
    return set(ChannelPause.objects.filter(until__gt=now or timezone.now()).values_list("channel", flat=True))


def pause_channel(channel: str, error: ChannelError, now: datetime.datetime | None = None) -> ChannelPause:
    """Pause ``channel`` after its provider refused our account (``CHANNEL_PAUSE_SECONDS``)
    or failed request after request (``CHANNEL_OUTAGE_PAUSE_SECONDS``)."""
    now = now or timezone.now()
    kind = ChannelPause.Kind.ACCOUNT if error.account else ChannelPause.Kind.OUTAGE
    seconds = settings.CHANNEL_PAUSE_SECONDS if error.account else settings.CHANNEL_OUTAGE_PAUSE_SECONDS
    until = now + datetime.timedelta(seconds=seconds)
    fields = {"kind": kind, "code": error.code[:16], "reason": error.message[:300], "refused_at": now, "until": until}
    renewed = ChannelPause.objects.filter(channel=channel).update(refusals=F("refusals") + 1, **fields)
    if not renewed:
        try:
            with transaction.atomic():
                ChannelPause.objects.create(channel=channel, since=now, **fields)
        except IntegrityError:  # another worker paused it at the same moment
            ChannelPause.objects.filter(channel=channel).update(refusals=F("refusals") + 1, **fields)
        else:
            logger.error(
                "%s sending paused: %s (%s): %s; tried again at %s",
                channel,
                "the provider refused our account" if error.account else "the provider is failing",
                error.code or "-",
                error.message,
                until.isoformat(timespec="seconds"),
            )
    forget()
    return ChannelPause.objects.get(channel=channel)


def resume_channel(channel: str) -> bool:
    """End ``channel``'s pause: its provider accepted a request again. True if one ended."""
    ended, _ = ChannelPause.objects.filter(channel=channel).delete()
    forget()
    if ended:
        logger.warning("%s sending resumed: the provider accepts our account again", channel)
    return bool(ended)
