"""The watchdog: tells on-call when background work stops (``manage.py watchdog``).

Celery beat publishes through Redis, so no beat task can report Redis down. The
watchdog is a process of its own, outside Celery, that asks every
``WATCHDOG_INTERVAL_SECONDS`` what ``/healthz`` and the console's banner know
(``embassy.health``): the database, Redis (the broker), beat's sweep and the send
queues' workers (``background_problems``, plus a heartbeat never recorded since Redis
started), and paused channels (``ChannelPause``). Each problem has a code:

====================  ========================================================
``database``          PostgreSQL does not answer
``broker``            Redis does not answer: nothing is sent
``sweep``             beat's delivery sweep has not run (beat or the ``celery`` queue's workers)
``queue:sms``, ...    nothing finished on that send queue (its workers)
``paused:sms``, ...   that channel is paused (``alerts.services.pauses``)
====================  ========================================================

A problem is told once it has lasted ``WATCHDOG_NOTIFY_AFTER_SECONDS`` (a worker
restart pages nobody), again every ``WATCHDOG_REPEAT_SECONDS`` while it lasts, and its
end once; one that ends before it was told is forgotten. Each notice goes to every
route configured: ``WATCHDOG_WEBHOOK_URL`` (a JSON POST), ``WATCHDOG_EMAILS`` and
``WATCHDOG_PHONES``, sent at once through the configured channel classes
(``alerts.channels.get_channel``), never through Celery, which may be what is down.
A route that fails is logged and the others still go; a notice is counted as told when
at least one route took it, otherwise it is tried again at the next check.

What it told is kept in ``WATCHDOG_STATE_FILE``, a small JSON file on the watchdog's
own disk, rewritten atomically when it changes: the database and Redis may be exactly
what is down (a memory kept there could be neither read nor written then), and a
restart of the watchdog, or ``--once`` from cron, must remember what it already told.
A lost or unreadable file costs at most one notice too many, never one too few. A lock
beside it (``.lock``) keeps a second watchdog on the same file from running.

Addresses never reach the logs: a phone is logged as its last two digits, an email by
its place in ``WATCHDOG_EMAILS``, and the webhook's URL (it may hold a token) not at all.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import logging
import os
import socket
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from embassy.logging import mask_phone, redact

logger = logging.getLogger(__name__)

#: Where on-call reads on, per problem code (docs/operations.md).
_RUNBOOK = {
    "database": "runbook 4.4",
    "broker": "runbook 4.3",
    "sweep": "runbook 4.6",
    "queue": "runbook 3, Queue depth",
    "paused:account": "runbook 4.1",
    "paused:outage": "runbook 4.2",
    "paused:restored": "runbook 7, Restore",
}
_CHANNEL_NAMES = {"sms": "SMS", "email": "Email"}
#: SMS notices are cut to this many characters (two segments of plain text).
SMS_MAX_CHARS = 306
STATE_VERSION = 1


class WatchdogBusy(Exception):
    """Another watchdog holds the lock of the same state file."""


# --- what is wrong now ----------------------------------------------------------------


def _when(timestamp: float) -> str:
    """``2021-08-15 03:02 UTC``, and the post's time beside it when it is not UTC."""
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)
    text = moment.strftime("%Y-%m-%d %H:%M UTC")
    zone = settings.EMBASSY_TIME_ZONE
    if zone != "UTC":
        text += moment.astimezone(ZoneInfo(zone)).strftime(f" (%H:%M {zone})")
    return text


def _queue_name(channel: str) -> str:
    return settings.ALERT_SEND_QUEUES.get(channel, channel)


def find_problems() -> tuple[dict[str, str], set[str]]:
    """What is wrong now: problem code -> text for people; and the codes (or code
    prefixes, ``"queue:"``) that could not be checked, whose earlier state stands:
    beat's and the queues' heartbeats while Redis is down, pauses while the database is.
    Never raises for a service that is down."""
    from embassy import health

    problems: dict[str, str] = {}
    unknown: set[str] = set()
    if health.database_status() != "ok":
        problems["database"] = (
            "PostgreSQL does not answer: no console page works, nothing is sent, inbound SMS "
            f"and provider callbacks are refused ({_RUNBOOK['database']})"
        )
        unknown.add("paused:")
    broker = health.broker_status()
    if broker == "ok":
        health.forget_background()  # the banner's 5-second memory is for web pages
        background = health.background_problems()
        sweep_age, queue_ages = health.heartbeat_ages()
        if any(problem["kind"] == "broker" for problem in background):
            broker = "unreachable"  # went between the two pings
        for problem in background:
            if problem["kind"] == "sweep":
                problems["sweep"] = (
                    f"beat's delivery sweep has not run for {problem['minutes']} min: beat, or the celery "
                    "queue's workers, are down; scheduled alerts do not start and sending alerts do not "
                    f"finish ({_RUNBOOK['sweep']})"
                )
            elif problem["kind"] == "queue":
                channel = str(problem["channel"])
                problems[f"queue:{channel}"] = (
                    f"no task has finished on the {_queue_name(channel)} queue for {problem['minutes']} min: "
                    f"its workers are down; {_CHANNEL_NAMES.get(channel, channel)} alerts wait ({_RUNBOOK['queue']})"
                )
        if broker == "ok":
            if sweep_age is None:
                problems["sweep"] = (
                    "no delivery sweep recorded since Redis started (or lost its data): beat, or the celery "
                    f"queue's workers, are not running ({_RUNBOOK['sweep']})"
                )
            for channel, queue in sorted(settings.ALERT_SEND_QUEUES.items()):
                if queue_ages.get(queue) is None:
                    problems[f"queue:{channel}"] = (
                        f"no task recorded on the {queue} queue since Redis started (or lost its data): its "
                        f"workers are not running ({_RUNBOOK['queue']})"
                    )
    if broker == "unreachable":
        problems["broker"] = (
            "Redis (the Celery broker) does not answer: no task is queued, so nothing is sent, alerts and "
            f"verification codes included ({_RUNBOOK['broker']})"
        )
    if broker != "ok":
        unknown.update(("sweep", "queue:"))  # nothing to read (or, in-process, nothing to watch)
    if "database" not in problems:
        try:
            problems.update(_paused_channels())
        except Exception:
            logger.warning("watchdog: could not read the paused channels; checked again next time")
            unknown.add("paused:")
    return problems, unknown


def _paused_channels() -> dict[str, str]:
    from alerts.models import ChannelPause

    problems = {}
    for pause in ChannelPause.objects.order_by("channel"):
        name = _CHANNEL_NAMES.get(pause.channel, pause.channel)
        if pause.kind == ChannelPause.Kind.ACCOUNT:
            why, runbook = "the provider refuses the embassy's own account", _RUNBOOK["paused:account"]
        elif pause.kind == "restored":  # alerts.services.restore_guard: only an administrator ends it
            why = "the database was restored or failed over, and sending holds until an administrator resumes it"
            runbook = _RUNBOOK["paused:restored"]
        else:
            why, runbook = "the provider is failing", _RUNBOOK["paused:outage"]
        problems[f"paused:{pause.channel}"] = (
            f"{name} sending is paused since {_when(pause.since.timestamp())}: {why} (code {pause.code or '-'}); "
            f"its messages wait ({runbook})"
        )
    return problems


def _label(code: str) -> str:
    """A few words for a subject line or an SMS."""
    kind, _, channel = code.partition(":")
    if kind == "database":
        return "PostgreSQL down"
    if kind == "broker":
        return "Redis down"
    if kind == "sweep":
        return "beat's sweep stopped"
    if kind == "queue":
        return f"{_queue_name(channel)} workers down"
    if kind == "paused":
        return f"{_CHANNEL_NAMES.get(channel, channel)} paused"
    return code


# --- what it remembers ----------------------------------------------------------------


@dataclass
class Tracked:
    """One problem the watchdog has seen and not yet seen end."""

    text: str
    since: float  # when the watchdog first saw it (seconds since the epoch)
    notified_at: float | None = None  # when it was first told; None while in its grace
    told_at: float | None = None  # when a notice last listed it (first or a reminder)


def load_state(path: Path) -> dict[str, Tracked]:
    """The problems remembered in ``path``; none when it does not exist. An unreadable
    file is logged and taken as empty: at worst a notice is sent again."""
    try:
        raw = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        logger.error("watchdog: cannot read its state file (%s): starting from nothing", type(exc).__name__)
        return {}
    try:
        data = json.loads(raw)
        return {
            str(code): Tracked(
                text=str(entry["text"]),
                since=float(entry["since"]),
                notified_at=None if entry.get("notified_at") is None else float(entry["notified_at"]),
                told_at=None if entry.get("told_at") is None else float(entry["told_at"]),
            )
            for code, entry in data["problems"].items()
        }
    except (ValueError, KeyError, TypeError, AttributeError):
        logger.error("watchdog: its state file is not what it writes: starting from nothing")
        return {}


def save_state(path: Path, state: dict[str, Tracked]) -> bool:
    """Write ``state`` to ``path`` atomically (a new file renamed over the old one).
    Returns False, logged, when it cannot: the watchdog goes on from its memory."""
    data = {"version": STATE_VERSION, "problems": {code: asdict(tracked) for code, tracked in sorted(state.items())}}
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as file:
                json.dump(data, file, indent=1)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except OSError as exc:
        logger.error("watchdog: cannot write its state file (%s): a restart may send notices again", type(exc).__name__)
        return False
    return True


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold the lock beside ``path`` (``<name>.lock``) while the watchdog runs; raise
    WatchdogBusy when another process holds it, OSError when it cannot be made."""
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WatchdogBusy(str(path)) from None
        yield
    finally:
        os.close(fd)  # closing releases the lock


# --- what it says ---------------------------------------------------------------------


@dataclass
class Notice:
    """One message to on-call: problems just past their grace (``new``), those still
    going on (``ongoing``, the new ones included) and those that ended (``resolved``)."""

    event: str  # "problem" (something new), "resolved" (something ended), "reminder"
    ongoing: list[tuple[str, Tracked]]
    new: list[str]
    resolved: list[tuple[str, Tracked]]
    at: float
    host: str

    def subject(self) -> str:
        if self.event == "problem":
            head, codes = "PROBLEM", self.new
        elif self.event == "resolved":
            head, codes = "RESOLVED", [code for code, _ in self.resolved]
        else:
            head, codes = "STILL DOWN", [code for code, _ in self.ongoing]
        text = f"[Embassy alerts] {head} on {self.host}: {', '.join(_label(code) for code in codes)}"
        if self.event == "resolved" and self.ongoing:
            text += f"; still: {', '.join(_label(code) for code, _ in self.ongoing)}"
        return text

    def text(self) -> str:
        """The whole notice for people: the email's body and the webhook's ``text``."""
        lines = [f"{self.subject()}", "", f"Embassy alerts watchdog on {self.host}, {_when(self.at)}."]
        if self.ongoing:
            lines += ["", "Going on now:"]
            for code, tracked in self.ongoing:
                mark = "NEW " if code in self.new else ""
                lines.append(f"- {mark}{tracked.text}. Since {_when(tracked.since)} [{code}]")
        if self.resolved:
            lines += ["", "Resolved:"]
            for code, tracked in self.resolved:
                lines.append(f"- over: {_label(code)} (since {_when(tracked.since)}) [{code}]")
        if self.ongoing:
            lines += [
                "",
                f"While it lasts you are reminded every {_duration(settings.WATCHDOG_REPEAT_SECONDS)}; "
                "an end is told once. /healthz and every console page show the same.",
            ]
        return "\n".join(lines)

    def sms(self) -> str:
        parts = [f"Embassy alerts {self.host}:"]
        new = [
            f"{_label(code)} since {_short_time(tracked.since)}" for code, tracked in self.ongoing if code in self.new
        ]
        still = [_label(code) for code, _ in self.ongoing if code not in self.new]
        if new:
            parts.append("PROBLEM: " + "; ".join(new) + ".")
        if still:
            parts.append(("STILL DOWN: " if self.event == "reminder" else "Still: ") + "; ".join(still) + ".")
        if self.resolved:
            parts.append("RESOLVED: " + "; ".join(_label(code) for code, _ in self.resolved) + ".")
        if self.ongoing:
            parts.append("Details: email/webhook, /healthz, runbook.")
        text = " ".join(parts)
        # "..." rather than an ellipsis character, which would make the SMS UCS-2 (twice the segments).
        return text if len(text) <= SMS_MAX_CHARS else text[: SMS_MAX_CHARS - 3] + "..."

    def payload(self) -> dict[str, Any]:
        """The webhook's JSON body. ``text`` is what generic incoming-webhook receivers
        (Slack, Mattermost, Rocket.Chat, Teams workflows) show; the rest is for machines."""
        sinces = [tracked.since for _, tracked in self.ongoing] or [tracked.since for _, tracked in self.resolved]
        return {
            "text": self.text(),
            "event": self.event,
            "host": self.host,
            "at": _iso(self.at),
            "since": _iso(min(sinces)) if sinces else None,
            "codes": [code for code, _ in self.ongoing],
            "problems": [
                {"code": code, "text": tracked.text, "since": _iso(tracked.since), "new": code in self.new}
                for code, tracked in self.ongoing
            ],
            "resolved": [
                {"code": code, "text": tracked.text, "since": _iso(tracked.since)} for code, tracked in self.resolved
            ],
        }


def _iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC).isoformat(timespec="seconds")


def _short_time(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC).strftime("%H:%M UTC")


def _duration(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    if seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"


# --- how it says it -------------------------------------------------------------------


def routes() -> list[str]:
    """The routes configured: ``webhook``, ``email``, ``sms``."""
    found = []
    if settings.WATCHDOG_WEBHOOK_URL:
        found.append("webhook")
    if settings.WATCHDOG_EMAILS:
        found.append("email")
    if settings.WATCHDOG_PHONES:
        found.append("sms")
    return found


def _post_webhook(notice: Notice) -> bool:
    request = urllib.request.Request(  # noqa: S310 - http:// or https:// only (embassy.env.env_http_url)
        settings.WATCHDOG_WEBHOOK_URL,
        data=json.dumps(notice.payload()).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "embassy-alerts-watchdog"},
    )
    timeout = settings.WATCHDOG_WEBHOOK_TIMEOUT_SECONDS
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - as above
            response.read(65536)
    except urllib.error.HTTPError as exc:
        why = f"HTTP {exc.code}"
    except TimeoutError:
        why = f"no answer within {timeout:g}s"
    except urllib.error.URLError as exc:
        reason = exc.reason
        why = f"no answer within {timeout:g}s" if isinstance(reason, TimeoutError) else type(reason).__name__
    except OSError as exc:  # a connection lost while reading the answer
        why = type(exc).__name__
    else:
        return True
    # Never the URL: it may hold the receiver's token.
    logger.error("watchdog: the webhook did not take the %s notice (%s)", notice.event, why)
    return False


def _send_by_channel(kind: str, addresses: list[str], subject: str, body: str) -> bool:
    """Send one message to each address now through the configured ``kind`` channel
    (no Celery). True when at least one was taken; each refusal is logged without its
    address."""
    from alerts.channels import ChannelError, OutgoingMessage, get_channel

    messages = [
        OutgoingMessage(channel=kind, to=address, subject=subject, body=body, reference="watchdog")
        for address in addresses
    ]
    results = get_channel(kind).send_batch(messages)
    setting = "WATCHDOG_PHONES" if kind == "sms" else "WATCHDOG_EMAILS"
    taken = 0
    for number, (address, result) in enumerate(zip(addresses, results, strict=True), start=1):
        if isinstance(result, ChannelError):
            who = f"{setting} entry {number}" + (f" ({mask_phone(address)})" if kind == "sms" else "")
            logger.error(
                "watchdog: %s to %s not sent: %s (code %s)", kind, who, redact(result.message), result.code or "-"
            )
        else:
            taken += 1
    return taken > 0


def notify(notice: Notice) -> dict[str, bool]:
    """Send ``notice`` by every route configured; route -> whether it was taken. A route
    that fails (or raises) is logged and does not stop the others."""
    senders = {
        "webhook": lambda: _post_webhook(notice),
        "email": lambda: _send_by_channel("email", settings.WATCHDOG_EMAILS, notice.subject(), notice.text()),
        "sms": lambda: _send_by_channel("sms", settings.WATCHDOG_PHONES, "", notice.sms()),
    }
    outcome: dict[str, bool] = {}
    for route in routes():
        try:
            outcome[route] = senders[route]()
        except Exception as exc:
            logger.error(
                "watchdog: could not send the %s notice by %s (%s: %s)",
                notice.event,
                route,
                type(exc).__name__,
                redact(str(exc))[:200],
            )
            outcome[route] = False
    return outcome


# --- one check ------------------------------------------------------------------------


def _unknown(code: str, unknown: set[str]) -> bool:
    return any(code == prefix or (prefix.endswith(":") and code.startswith(prefix)) for prefix in unknown)


def check(path: Path, now: float | None = None) -> Notice | None:
    """Look once, tell on-call what is due, remember it in ``path``. Returns the notice
    sent (or tried), None when nothing was due."""
    now = time.time() if now is None else now
    current, unknown = find_problems()
    state = load_state(path)
    before = {code: asdict(tracked) for code, tracked in state.items()}
    for code, text in current.items():
        tracked = state.get(code)
        if tracked is None:
            state[code] = Tracked(text=text, since=now)
            logger.warning(
                "watchdog: %s: %s; told after %ss if it lasts", code, text, settings.WATCHDOG_NOTIFY_AFTER_SECONDS
            )
        else:
            tracked.text = text
    ended = [code for code in state if code not in current and not _unknown(code, unknown)]
    resolved = [(code, state[code]) for code in ended if state[code].notified_at is not None]
    for code in ended:
        if state[code].notified_at is None:
            logger.info("watchdog: %s is over before its grace ended: nobody told", code)
            del state[code]
    going_on = {code: tracked for code, tracked in state.items() if code not in ended}
    new = sorted(
        code
        for code, tracked in going_on.items()
        if code in current
        and tracked.notified_at is None
        and now - tracked.since >= settings.WATCHDOG_NOTIFY_AFTER_SECONDS
    )
    told = sorted(code for code, tracked in going_on.items() if tracked.notified_at is not None)
    reminder_due = any(now - (going_on[code].told_at or 0.0) >= settings.WATCHDOG_REPEAT_SECONDS for code in told)
    notice = None
    if new or resolved or reminder_due:
        event = "problem" if new else "resolved" if resolved else "reminder"
        ongoing = sorted(set(told) | set(new))
        notice = Notice(
            event=event,
            ongoing=[(code, going_on[code]) for code in ongoing],
            new=new,
            resolved=resolved,
            at=now,
            host=socket.gethostname(),
        )
        outcome = notify(notice)
        if any(outcome.values()):
            for code in new:
                going_on[code].notified_at = now
            for code in ongoing:
                going_on[code].told_at = now
            for code, _ in resolved:
                del state[code]
            logger.warning(
                "watchdog: %s notice sent (%s); going on: %s; resolved: %s",
                event,
                ", ".join(f"{route} {'taken' if taken else 'FAILED'}" for route, taken in outcome.items()),
                ", ".join(ongoing) or "-",
                ", ".join(code for code, _ in resolved) or "-",
            )
        else:
            logger.error(
                "watchdog: the %s notice reached no route; tried again in %ss",
                event,
                settings.WATCHDOG_INTERVAL_SECONDS,
            )
    if {code: asdict(tracked) for code, tracked in state.items()} != before:
        save_state(path, state)
    return notice
