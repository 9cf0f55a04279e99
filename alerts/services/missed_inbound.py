"""Inbound SMS the webhook missed, fetched from Twilio's message list later.

While our web servers or PostgreSQL are down, Twilio's POST of an inbound SMS (a STOP, a
"NEED" in an evacuation) fails and Twilio does not post it again. Beat runs
``fetch_missed_inbound_sms`` every ``INBOUND_FETCH_EVERY_SECONDS``: for each number of
ours (``inbound_numbers``) it lists at Twilio, through the SDK's ``messages.stream``
(``GET /2010-04-01/Accounts/{AccountSid}/Messages.json?To=...&DateSent>=...``, newest
first, following ``next_page_uri``), the messages sent to it since the number's cursor
(``InboundFetchCursor``) minus ``INBOUND_FETCH_OVERLAP_SECONDS`` (Twilio's list may show
a message late, and clocks differ), never more than ``INBOUND_FETCH_MAX_AGE_HOURS`` back.
Each inbound message whose sid we have not recorded goes, oldest first, through the
webhook's own ``record_inbound_sms``, stamped with when Twilio got it; a message got both
ways is recorded once (the sid is unique), and one erased with its sender is not
recorded again (its sid is kept, see ``alerts.services.inbound``). The webhook's answer
is sent as an SMS of its own when the message is recent enough to be worth answering
(``LATE_REPLY_WITHIN``).

At most ``INBOUND_FETCH_MAX_PER_RUN`` messages are listed per number and run; a run that
reaches the bound records the newest ones and leaves the rest, older, to the next runs
(the cursor's ``resume_before``), moving the cursor on only once none is left.

Twilio unreachable, timing out or answering with a server error ends the run for that
number quietly: its cursor stays, and the failure counts towards the SMS channel's
outage as the sweep's look-ups do (``pauses.count_outage``). A message that cannot be
read or recorded is logged by its sid and skipped; the others are recorded.

Status callbacks missed while down are not fetched here: see the runbook (4.4).
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import DataError
from django.utils import timezone
from twilio.base import values
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from alerts.channels.base import ChannelError
from alerts.channels.twilio import map_list_error
from alerts.models import InboundFetchCursor, InboundMessage, WebhookEvent
from alerts.services import pauses
from alerts.services.inbound import INBOUND_EVENT, record_inbound_sms
from alerts.services.locks import one_at_a_time
from embassy.logging import mask_phone

logger = logging.getLogger(__name__)

#: The SDK's own logger, quiet whatever the deployment says (it logs request URLs, which
#: here carry our number and the dates asked for), as the SMS channel keeps it.
_sdk_logger = logging.getLogger("alerts.channels.twilio.sdk")

#: Messages per page asked of Twilio (its largest).
PAGE_SIZE = 1000
#: A message fetched later is answered by SMS (the answer the webhook would have given)
#: only while it is this recent: "we have recorded that you need assistance" is worth
#: sending 20 minutes late, not days late.
LATE_REPLY_WITHIN = datetime.timedelta(hours=1)
#: Twilio's direction of a message someone sent to one of our numbers.
INBOUND = "inbound"
#: Twilio's status of an inbound message not yet fully received (a long one's parts):
#: left for a later run, which the overlap gives.
RECEIVING = "receiving"


@dataclass
class FetchReport:
    """What one run did, summed over the numbers."""

    numbers: int = 0
    listed: int = 0  # messages Twilio listed, inbound or not
    recorded: int = 0  # inbound messages the webhook had missed, recorded now
    already: int = 0  # inbound messages recorded before (by the webhook, or a run before)
    ignored: int = 0  # outbound messages, and inbound ones not yet fully received
    failed: int = 0  # messages that could not be read or recorded (logged by sid)
    replies: int = 0  # answers queued by SMS
    incomplete: list[str] = field(default_factory=list)  # numbers (masked) left for later: bound or failure
    error: str = ""  # why Twilio could not be asked, if it could not
    provider_down: bool = False  # the error says Twilio is down or unreachable: ask no more this run


def inbound_numbers() -> list[str]:
    """Our numbers people text: ``TWILIO_INBOUND_NUMBERS``, else ``TWILIO_FROM_NUMBER``.

    A Messaging Service's numbers are not in the settings: with ``TWILIO_MESSAGING_SERVICE_SID``
    alone, name them in ``TWILIO_INBOUND_NUMBERS`` (listing the whole account instead would
    page through every alert's outbound SMS)."""
    numbers = list(settings.TWILIO_INBOUND_NUMBERS) or (
        [settings.TWILIO_FROM_NUMBER] if settings.TWILIO_FROM_NUMBER else []
    )
    return list(dict.fromkeys(n.strip() for n in numbers if n.strip()))


def _client() -> Any:
    """The SDK's Messages list resource of our account, with the provider timeout."""
    client = Client(
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        http_client=TwilioHttpClient(timeout=settings.PROVIDER_TIMEOUT_SECONDS, logger=_sdk_logger),
    )
    client.api.base_url = settings.TWILIO_API_BASE_URL.rstrip("/")  # the SDK's own seam for the API's host
    return client.api.v2010.accounts(settings.TWILIO_ACCOUNT_SID).messages


def _count_failure(error: ChannelError) -> None:
    """As the sweep's look-ups (``fanout._count_failed_look_up``): towards the SMS outage."""
    outage = pauses.count_outage("sms", [error])
    if outage is not None:
        pauses.pause_channel("sms", outage)


def _utc(moment: datetime.datetime) -> datetime.datetime:
    # The SDK writes the filter's date as it is, without converting it to UTC.
    return moment.astimezone(datetime.UTC)


def fetch_missed_inbound_sms(now: datetime.datetime | None = None) -> FetchReport:
    """List each of our numbers' inbound SMS at Twilio since its cursor and record those
    the webhook missed (module docstring). Returns what it did; never raises for
    Twilio's failures or a bad message (logged), only for our database's."""
    report = FetchReport()
    if settings.SMS_BACKEND != "twilio":
        return report
    numbers = inbound_numbers()
    if not numbers:
        logger.warning(
            "inbound fetch: no number to look at (set TWILIO_INBOUND_NUMBERS to the Messaging Service's numbers)"
        )
        return report
    with _fetch_lock() as mine:
        if not mine:
            logger.info("inbound fetch: another run is still going; this one does nothing")
            return report
        resource = _client()
        for number in numbers:
            report.numbers += 1
            if not _fetch_for(resource, number, now or timezone.now(), report):
                report.incomplete.append(mask_phone(number))
                if report.provider_down:
                    break  # Twilio did not answer: the other numbers wait for the next run too
                # Refused for this number only (a 4xx): the other numbers are still asked.
    level = logging.WARNING if report.recorded or report.failed or report.error else logging.INFO
    logger.log(
        level,
        "inbound fetch: %d number(s), %d message(s) listed, %d recorded that the webhook missed, "
        "%d already recorded, %d ignored, %d failed, %d late replies queued%s%s",
        report.numbers,
        report.listed,
        report.recorded,
        report.already,
        report.ignored,
        report.failed,
        report.replies,
        f"; left for the next run: {', '.join(report.incomplete)}" if report.incomplete else "",
        f"; Twilio could not be asked: {report.error}" if report.error else "",
    )
    return report


#: The PostgreSQL advisory lock a run holds (any number, the same everywhere; not the sweep's).
FETCH_LOCK_KEY = 0x5EE9_0002


@contextlib.contextmanager
def _fetch_lock() -> Iterator[bool]:
    """One run at a time across every worker (a slow Twilio can outlast the interval; two
    beats by mistake): True if this one may run. Two runs would record nothing twice (the
    sid is unique) but could write a cursor back. A session lock, as the sweep's."""
    with one_at_a_time(FETCH_LOCK_KEY) as mine:
        yield mine


def _window(cursor: InboundFetchCursor, now: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime | None]:
    """(date sent from, date sent up to or None) of what this run lists for ``cursor``."""
    oldest = now - datetime.timedelta(hours=settings.INBOUND_FETCH_MAX_AGE_HOURS)
    overlap = datetime.timedelta(seconds=settings.INBOUND_FETCH_OVERLAP_SECONDS)
    if cursor.fetched_through is None:
        # A number looked at for the first time: from now on (minus the overlap). What
        # came before this feature existed is not ours to replay (an erasure then kept
        # no sid to refuse it by).
        start = now - overlap
    else:
        start = cursor.fetched_through - overlap
    return max(start, oldest), cursor.resume_before


def _fetch_for(resource: Any, number: str, now: datetime.datetime, report: FetchReport) -> bool:
    """One number's run; True when its cursor moved on to now (nothing left to list)."""
    cursor, _ = InboundFetchCursor.objects.get_or_create(number=number)
    start, until = _window(cursor, now)
    through = cursor.resume_through or now
    bound = settings.INBOUND_FETCH_MAX_PER_RUN
    listed: list[Any] = []
    try:
        for item in resource.stream(
            to=number,
            date_sent_after=_utc(start),
            date_sent_before=_utc(until) if until is not None else values.unset,
            limit=bound + 1,
            page_size=min(PAGE_SIZE, bound + 1),
        ):
            listed.append(item)
    except (TwilioException, OSError, ValueError) as exc:  # requests' errors are OSErrors
        error = map_list_error(exc)
        _count_failure(error)
        report.error = error.message
        report.provider_down = report.provider_down or error.outage or error.unreachable
        return False
    report.listed += len(listed)
    more = len(listed) > bound
    taken = listed[:bound]  # the newest: Twilio lists newest first
    _record_all(taken, now, report)
    if more:
        oldest = _oldest_sent(taken)
        if oldest is None or (until is not None and oldest >= until):
            # A whole page of one second (or no date to go by): step past it rather than
            # list the same messages for ever.
            oldest = (until or now) - datetime.timedelta(seconds=1)
            logger.warning(
                "inbound fetch %s: more than %d messages in one second; stepping past it", mask_phone(number), bound
            )
        cursor.resume_before = oldest
        cursor.resume_through = through
        cursor.save(update_fields=["resume_before", "resume_through", "updated_at"])
        return False
    cursor.fetched_through = through
    cursor.resume_before = cursor.resume_through = None
    cursor.save(update_fields=["fetched_through", "resume_before", "resume_through", "updated_at"])
    return True


def _oldest_sent(items: list[Any]) -> datetime.datetime | None:
    dates = [item.date_sent for item in items if isinstance(getattr(item, "date_sent", None), datetime.datetime)]
    return min(dates) if dates else None


def _record_all(items: list[Any], now: datetime.datetime, report: FetchReport) -> None:
    """Record the inbound ones of ``items`` (newest first, as listed) we do not have,
    oldest first."""
    inbound: list[tuple[datetime.datetime, int, Any]] = []
    for position, item in enumerate(items):
        sid = str(getattr(item, "sid", "") or "")
        try:
            direction = item.direction
            status = item.status
            sent = item.date_sent
        except Exception:
            direction = status = sent = None
        if direction != INBOUND:
            report.ignored += 1
            continue
        if status == RECEIVING:
            report.ignored += 1  # its date or body may not be final: the overlap brings it back
            continue
        if not sid or not isinstance(sent, datetime.datetime) or not getattr(item, "from_", None):
            logger.warning("inbound fetch: message %s unreadable (no sid, sender or date sent); skipped", sid or "-")
            report.failed += 1
            continue
        # Twilio lists newest first: among messages of one second, the later-listed is older.
        inbound.append((sent, -position, item))
    if not inbound:
        return
    sids = [str(item.sid) for _, _, item in inbound]
    known = set(
        InboundMessage.objects.filter(provider_message_id__in=sids).values_list("provider_message_id", flat=True)
    )
    known.update(
        WebhookEvent.objects.filter(provider=INBOUND_EVENT, event_id__in=sids).values_list("event_id", flat=True)
    )
    for sent, _, item in sorted(inbound, key=lambda entry: (entry[0], entry[1])):
        sid = str(item.sid)
        if sid in known:
            report.already += 1
            continue
        known.add(sid)  # the same sid twice in one listing (pages shifting) is one message
        _record_one(item, sid, sent, now, report)


def _record_one(item: Any, sid: str, sent: datetime.datetime, now: datetime.datetime, report: FetchReport) -> None:
    try:
        result = record_inbound_sms(sid, str(item.from_), str(item.to or ""), str(item.body or ""), sent_at=sent)
    except (ValueError, DataError) as exc:
        # One bad message (a sender or text our record cannot hold) must not stop the
        # rest; a database that fails otherwise ends the run, the cursor where it was.
        logger.warning("inbound fetch: message %s not recorded (%s); skipped", sid, type(exc).__name__)
        report.failed += 1
        return
    if not result.created:
        report.already += 1  # the webhook recorded it while we were looking
        return
    report.recorded += 1
    if result.reply and now - sent <= LATE_REPLY_WITHIN:
        from alerts.notify import queue_message

        queue_message("sms", str(item.from_), result.reply, reference=f"inbound-reply:{sid}")
        report.replies += 1
