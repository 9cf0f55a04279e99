"""Channels paused because their provider cannot take our messages for now.

When Twilio or SendGrid refuses our credentials or sender (``ChannelError.account``),
or fails request after request (``CHANNEL_OUTAGE_AFTER`` in a row in one process with
nothing accepted: answered with server errors, ``ChannelError.outage``, or timed out or
not reachable, ``ChannelError.unreachable``), every message on that channel would fail
the same way until the configuration is fixed or the provider is back. Failing the
deliveries would lose them; retrying each one would spend their attempts within minutes
and hammer the provider. So the channel pauses (``ChannelPause``):

- the refused deliveries wait as RETRY until the pause's end, their attempt not counted
  (those that timed out may have been taken: they are settled as any other timeout, an
  SMS looked up before it is sent again, an email never sent again; the outage only
  adds the pause);
- single messages (codes, links: ``alerts.notify``) wait for the pause's end in the
  queue, without spending a retry;
- send tasks claim nothing on a paused channel (they hand their deliveries back to the
  sweep), and the sweep queues nothing on it;
- the console shows the pause on every page, ``/healthz`` names the channel;
- at the pause's end the sweep queues the waiting deliveries again: the first request
  the provider accepts (an alert's or a single message's) ends the pause, a refusal
  renews it.

Whether a channel is paused is read from the database at most once per
``CHANNEL_PAUSE_CHECK_SECONDS`` per process (send tasks ask before every round).
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from alerts.channels.base import ChannelError, SendResult
from alerts.models import ChannelPause

logger = logging.getLogger(__name__)

_seen: dict[str, tuple[float, ChannelPause | None]] = {}
_seen_lock = threading.Lock()
#: Failed requests per channel in this process since the provider last accepted one:
#: how many of each kind (``failure_kind``), and the last error of each kind.
_failing: dict[str, tuple[Counter[str], dict[str, ChannelError]]] = {}

#: What a failed request says of its provider, by ``ChannelError.code`` of an
#: unreachable one (the words staff read in the pause's reason).
_UNREACHABLE_KINDS = {"timeout": "timed out", "connection": "could not connect", "answer": "connection lost"}
SERVER_ERRORS = "server errors"


def forget() -> None:
    """Drop this process's remembered pauses (the next question reads the database)."""
    with _seen_lock:
        _seen.clear()


def reset() -> None:
    """Forget the pauses and the server errors counted (a test's fresh start)."""
    forget()
    with _seen_lock:
        _failing.clear()


def failure_kind(error: ChannelError) -> str | None:
    """What ``error`` says of its provider being down: "server errors", "timed out",
    "could not connect", "connection lost"; None when it says nothing of it (a refusal
    of the message, a rate limit, our account)."""
    if error.outage:
        return SERVER_ERRORS
    if error.unreachable:
        return _UNREACHABLE_KINDS.get(error.code, "unreachable")
    return None


def count_outage(channel: str, results: Iterable[SendResult | ChannelError]) -> ChannelError | None:
    """Count one round's answers on ``channel``; when its provider now looks down, the
    error to pause the channel with (``pause_channel``), else None.

    Counted: distinct requests (a SendGrid request's recipients share one error) that
    were answered with a server error, timed out, or could not connect or lost their
    connection (``failure_kind``). Any message accepted starts the count again; other
    refusals leave it as it is. Down: ``CHANNEL_OUTAGE_AFTER`` such requests in a row in
    this process. The error returned (``outage``) names what happened in its code (the
    last error's of the commonest kind: "timeout", "connection", "20503") and its
    message, which says how many of each kind, for the console's pause banner.
    """
    failed: dict[int, ChannelError] = {}
    for result in results:
        if isinstance(result, SendResult):
            with _seen_lock:
                _failing.pop(channel, None)
            return None
        if failure_kind(result) is not None:
            failed.setdefault(id(result), result)
    if not failed:
        return None
    with _seen_lock:
        counts, last = _failing.setdefault(channel, (Counter(), {}))
        for error in failed.values():
            kind = failure_kind(error) or ""
            counts[kind] += 1
            last[kind] = error
        total = sum(counts.values())
        if total < settings.CHANNEL_OUTAGE_AFTER:
            return None
        del _failing[channel]
    kind = counts.most_common(1)[0][0]
    kinds = ", ".join(f"{n} {k}" for k, n in counts.most_common())
    return ChannelError(
        f"{last[kind].message} ({total} requests in a row failed, none accepted: {kinds})",
        permanent=False,
        code=last[kind].code,
        outage=True,
    )


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


def paused_channels(now: datetime.datetime | None = None, *, single_messages: bool = False) -> set[str]:
    """The channels whose pause has not ended, read from the database. With
    ``single_messages``: those that hold codes and links back, which a hold after a
    database change (``restore_guard``) does not."""
    pauses = ChannelPause.objects.filter(until__gt=now or timezone.now())
    if single_messages:
        pauses = pauses.exclude(kind=ChannelPause.Kind.RESTORED)
    return set(pauses.values_list("channel", flat=True))


def pause_channel(channel: str, error: ChannelError, now: datetime.datetime | None = None) -> ChannelPause:
    """Pause ``channel`` after its provider refused our account (``CHANNEL_PAUSE_SECONDS``)
    or failed request after request (``CHANNEL_OUTAGE_PAUSE_SECONDS``; ``error`` is then
    the one ``count_outage`` returned). Renews the pause when there is one already."""
    now = now or timezone.now()
    kind = ChannelPause.Kind.ACCOUNT if error.account else ChannelPause.Kind.OUTAGE
    seconds = settings.CHANNEL_PAUSE_SECONDS if error.account else settings.CHANNEL_OUTAGE_PAUSE_SECONDS
    until = now + datetime.timedelta(seconds=seconds)
    fields = {"kind": kind, "code": error.code[:16], "reason": error.message[:300], "refused_at": now, "until": until}
    held = ChannelPause.objects.filter(channel=channel, kind=ChannelPause.Kind.RESTORED).first()
    if held is not None:
        # Held after a database change (restore_guard): only an administrator ends that,
        # never a provider's refusal turned into a timed pause.
        return held
    renewed = (
        ChannelPause.objects.filter(channel=channel)
        .exclude(kind=ChannelPause.Kind.RESTORED)
        .update(refusals=F("refusals") + 1, **fields)
    )
    if not renewed:
        try:
            with transaction.atomic():
                ChannelPause.objects.create(channel=channel, since=now, **fields)
        except IntegrityError:  # another worker paused it (or held it) at the same moment
            ChannelPause.objects.filter(channel=channel).exclude(kind=ChannelPause.Kind.RESTORED).update(
                refusals=F("refusals") + 1, **fields
            )
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


def resume_channel(channel: str, *, sent_since: datetime.datetime | None = None) -> bool:
    """End ``channel``'s pause: its provider accepted a request again. True if one ended.

    ``sent_since``: when the accepted request was sent; a pause renewed by a refusal
    that came back after it (another worker's) stays, until the next request accepted.
    """
    # A hold after a database change is never ended by an accepted message (restore_guard).
    ending = ChannelPause.objects.filter(channel=channel).exclude(kind=ChannelPause.Kind.RESTORED)
    if sent_since is not None:
        ending = ending.filter(refused_at__lt=sent_since)
    ended, _ = ending.delete()
    forget()
    if ended:
        logger.warning("%s sending resumed: the provider accepts our account again", channel)
    return bool(ended)


def try_channel_again(channel: str, now: datetime.datetime | None = None) -> int:
    """Bring ``channel``'s pause to its end now, as if its time had come: returns how many
    waiting deliveries were moved forward with it (-1 when the channel is not paused).

    The pause is not deleted: its ``until`` becomes ``now``, and the deliveries it held
    (RETRY on that channel, due at or before the old end, with the pause's error code)
    are due now, so the next sweep queues them. The first request the provider accepts
    ends the pause; a refusal renews it, as at any pause's end. Deleting the pause
    instead would let every send task go at a provider that may still refuse, and the
    held deliveries would still wait for the old end. Single messages (codes, links)
    keep their own queued time; one accepted alert message ends the pause for them too.
    """
    from alerts.models import Delivery

    now = now or timezone.now()
    with transaction.atomic():
        pause = ChannelPause.objects.select_for_update().filter(channel=channel).first()
        if pause is None:
            return -1
        if pause.kind == ChannelPause.Kind.RESTORED:
            # Held after a database change (restore_guard), not for the provider: nothing
            # to try. The waiting deliveries are due as they stand; the next sweep queues them.
            pause.delete()
            forget()
            logger.warning("%s sending resumed by hand after the database changed", channel)
            return 0
        moved = Delivery.objects.filter(
            channel=channel,
            state=Delivery.State.RETRY,
            error_code=pause.code,
            next_attempt_at__gt=now,
            next_attempt_at__lte=pause.until,
        ).update(next_attempt_at=now)
        if pause.until > now:
            ChannelPause.objects.filter(pk=pause.pk).update(until=now)
    forget()
    logger.warning("%s sending tried again now by hand: %d waiting deliveries due", channel, moved)
    return moved
