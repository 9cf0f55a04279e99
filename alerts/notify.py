"""Single messages outside an alert: verification codes, self-service links, replies.

``queue_message`` hands the message to a Celery task once the surrounding transaction
commits (so no task refers to a row that may still roll back); the task sends it through
the configured channel and retries transient failures with backoff.

Channel pauses (``alerts.services.pauses``) hold single messages back as they hold
alerts: while its channel is paused a message is not handed to the provider
(``send_message`` raises ``ChannelPaused``) and its task is queued again for the pause's
end, plus a few seconds of jitter, without spending a retry (``wait_for_pause``). The
provider's answers count as an alert's do: a refusal of our account pauses the channel,
server errors, timeouts and failed connections count towards an outage, and the first
message accepted after a pause has ended ends it, as an alert's first accepted round
does (``send_delivery_chunk``: the pause's banner and ``/healthz`` clear at once, not
at the next alert).

A message is worth sending only so long: each payload carries ``expires_at``,
``valid_for`` seconds after it was made, by default ``VERIFICATION_CODE_TTL_SECONDS``
(15 minutes): what a verification code and an email link live, and the page the
person is waiting on says so and offers a new one. A message whose channel stays paused
past its ``expires_at`` is dropped (logged by its reference, never its address or text)
rather than sent void. A self-service link lives longer (``SELF_SERVICE_LINK_TTL_SECONDS``);
its sender may pass ``valid_for`` to let it wait longer.

A verification's code or link (a payload naming its ``verification``) and a
self-service link (naming its ``manage_link`` request) are sent once and never lost to
Redis: a row in PostgreSQL records each (``registrations.verification_messages``,
``registrations.manage_links``: ``RECORDS``). ``send_message`` claims it in the database
before the provider is asked and sends nothing when another task did, or it is no longer
wanted (used, expired); it records the provider's answer after; a publish that fails
(Redis down) marks it for the beat, which queues it again, as it does a task Redis lost.
Other single messages are lost when their publish fails. After a failed publish this
process does not try the broker again for ``BROKER_RETRY_SECONDS``: a citizen's request
does not wait for it, and one warning a minute says so (``embassy.breaker``).
"""

from __future__ import annotations

import datetime
import logging
import random
import time
from importlib import import_module
from types import ModuleType

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from alerts.channels import ChannelError, OutgoingMessage, SendResult, get_channel
from alerts.models import ChannelPause
from alerts.services import pauses, restore_guard
from embassy.breaker import OutageBreaker

logger = logging.getLogger(__name__)

#: After a publish failed, this process leaves the broker alone this long (its messages
#: are marked for the beat, or lost) before it tries again.
BROKER_RETRY_SECONDS = 5.0
#: What a publish raises when the broker cannot be reached.
BROKER_ERRORS = (OperationalError, redis.RedisError, OSError)
#: A publish tries once more at once (a pooled connection Redis closed when it
#: restarted), not three times over seconds: a message it cannot hand over waits in the
#: database, and the citizen's request must not wait for Redis.
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}

broker_outage = OutageBreaker(
    logger,
    "Celery broker",
    "verification codes and links and self-service links wait in the database for the beat "
    "(other single messages are lost)",
    retry_after=BROKER_RETRY_SECONDS,
)

#: A message waiting for a pause is queued again this many seconds after its end (drawn
#: between the two): the waiting messages do not all reach the provider at once, and
#: those after the first see its answer (accepted: the pause ended; refused: renewed).
PAUSE_JITTER_SECONDS = (1.0, 6.0)
#: Channels that pause (``ChannelPause.channel``).
_PAUSABLE = frozenset({"sms", "email"})
#: A payload naming one of these keys is recorded on a row in PostgreSQL (its value is
#: the row's id), kept by this module: ``claim(id)`` (the claim's time, or None: not to
#: be sent), ``answered(id, claimed_at)`` (the provider took it or refused it for good),
#: ``release(id, claimed_at, retry_at=...)`` (not taken, tried again), ``postpone(ids,
#: until)`` and ``not_queued(ids)`` (for the beat).
RECORDS = {
    "verification": "registrations.verification_messages",
    "manage_link": "registrations.manage_links",
}


def _record(payload: dict) -> tuple[ModuleType, int] | None:
    """The module keeping ``payload``'s row and the row's id, or None (not recorded)."""
    for key, module in RECORDS.items():
        if payload.get(key) is not None:
            return import_module(module), payload[key]
    return None


def _recorded(payloads: list[dict]) -> dict[str, list[int]]:
    """The recorded ids among ``payloads``, by the module keeping them."""
    by_module: dict[str, list[int]] = {}
    for payload in payloads:
        for key, module in RECORDS.items():
            if payload.get(key) is not None:
                by_module.setdefault(module, []).append(payload[key])
                break
    return by_module


class NotWanted(Exception):
    """The message was not sent and will not be: another task sent it, or what it
    verifies was used or expired (a verification's message, claimed in the database)."""


class ChannelPaused(Exception):
    """The message was not sent: its channel is paused until ``until``.

    Either it was paused already (the provider was not asked), or the provider's answer
    to this message paused it without judging the message (our account refused, the
    server error that made the provider look down).
    """

    def __init__(self, channel: str, until: datetime.datetime) -> None:
        super().__init__(f"{channel} sending is paused until {until.isoformat(timespec='seconds')}")
        self.channel = channel
        self.until = until


def queue_message(
    channel: str,
    to: str,
    body: str,
    *,
    subject: str = "",
    html_body: str = "",
    reference: str = "",
    valid_for: float | None = None,
) -> None:
    """Send a message after the current transaction commits (at once outside one)."""
    queue_messages(
        [
            message_payload(
                channel, to, body, subject=subject, html_body=html_body, reference=reference, valid_for=valid_for
            )
        ]
    )


def message_payload(
    channel: str,
    to: str,
    body: str,
    *,
    subject: str = "",
    html_body: str = "",
    reference: str = "",
    valid_for: float | None = None,
    verification: int | None = None,
    manage_link: int | None = None,
) -> dict:
    """The task payload of one message (what ``send_message`` takes).

    ``valid_for``: seconds from now after which the message is not worth sending
    (``expires_at``, a Unix time); ``VERIFICATION_CODE_TTL_SECONDS`` unless given.
    ``verification``: the id of the Verification whose code or link this is: sent once,
    claimed on that row (``registrations.verification_messages``). ``manage_link``: the
    id of the ManageLinkRequest whose self-service link this is (``registrations.manage_links``).
    """
    seconds = settings.VERIFICATION_CODE_TTL_SECONDS if valid_for is None else valid_for
    payload = {
        "channel": channel,
        "to": to,
        "body": body,
        "subject": subject,
        "html_body": html_body,
        "reference": reference,
        "expires_at": time.time() + seconds,
    }
    if verification is not None:
        payload["verification"] = verification
    if manage_link is not None:
        payload["manage_link"] = manage_link
    return payload


def queue_messages(payloads: list[dict]) -> None:
    """Send messages after the current transaction commits, in one task (one broker publish).

    One request's messages (a registration's SMS code and email link) travel together;
    the task still sends each on its own and retries only those that failed transiently.
    A single message is queued as before (a dict, not a list of one).
    """
    if not payloads:
        return
    messages = list(payloads)
    transaction.on_commit(lambda: publish_messages(messages))


def publish_messages(payloads: list[dict]) -> bool:
    """Publish one task carrying ``payloads`` now; True when it was handed to the broker
    (or, with tasks run in-process, ran).

    Never raises: the rows these messages are about are committed, and a broker outage
    (or, with tasks run in-process, a provider failure still being retried) must not turn
    the person's finished request into an error page. When the broker cannot be reached,
    or failed within ``BROKER_RETRY_SECONDS`` in this process, recorded messages
    (``RECORDS``: codes, email links, self-service links) are marked for the beat and
    the others are lost, each logged by its reference.
    """
    from alerts.tasks import send_single_message

    argument: dict | list[dict] = payloads[0] if len(payloads) == 1 else list(payloads)
    if not broker_outage.available():
        broker_outage.skipped()
        _not_queued(payloads, "the broker failed moments ago")
        return False
    try:
        # The task's shown arguments (broker headers, monitoring, worker logs) name the
        # messages, never their addresses or texts; Celery need not repr the payload.
        send_single_message.apply_async(
            (argument,), argsrepr=shown_arguments(argument), kwargsrepr="{}", retry_policy=PUBLISH_RETRY_POLICY
        )
    except BROKER_ERRORS as exc:
        broker_outage.failed(exc)
        _not_queued(payloads, type(exc).__name__)
        return False
    except Exception:
        logger.exception("could not queue the message(s) %s", shown_arguments(argument))
        _not_queued(payloads, "", logged=True)
        return False
    broker_outage.answered()
    return True


def _not_queued(payloads: list[dict], why: str, *, logged: bool = False) -> None:
    """``payloads`` were not handed to the broker: recorded messages wait for the beat;
    the others are lost (logged by reference unless ``logged`` already)."""
    lost = [m for m in payloads if _record(m) is None]
    for module, ids in _recorded(payloads).items():
        try:
            import_module(module).not_queued(ids)
        except Exception:  # the database too: nothing more to do than say so
            logger.exception("could not mark %d recorded message(s) for the beat (%s)", len(ids), module)
    if lost and not logged:
        logger.error("could not queue the message(s) %s (%s): not sent", shown_arguments(lost), why)


def postpone_messages(payloads: list[dict], until: datetime.datetime) -> None:
    """``payloads`` were queued again for ``until`` (a retry, a paused channel): the beat
    leaves recorded messages alone until then."""
    for module, ids in _recorded(payloads).items():
        import_module(module).postpone(ids, until)


def shown_arguments(payload: dict | list[dict]) -> str:
    """What a message task shows of its argument: channels and references, no address or text."""
    messages = [payload] if isinstance(payload, dict) else payload
    return "(" + repr(", ".join(f"{m.get('channel', '')} {m.get('reference', '')}" for m in messages)) + ",)"


def send_message(payload: dict) -> SendResult:
    """Send one message now, unless its channel is paused.

    Raises ``ChannelPaused`` when the channel is paused (nothing sent) or the provider's
    answer paused it (our account refused, or the server error that made it look down):
    the message waits for the pause's end. Raises ChannelError as the channel does
    otherwise (a timeout that made the provider look down too: it may have been taken,
    and is retried as before, then waits for the pause).
    """
    message = OutgoingMessage(
        channel=payload["channel"],
        to=payload["to"],
        body=payload["body"],
        subject=payload.get("subject", ""),
        html_body=payload.get("html_body", ""),
        reference=payload.get("reference", ""),
    )
    channel = message.channel
    pause = pauses.channel_pause(channel) if channel in _PAUSABLE else None
    if restore_guard.is_restore_hold(pause):
        # Held after a database change: alerts wait for an administrator, codes and links
        # do not (one sent twice is harmless), and sending one does not end the hold.
        pause = None
    if pause is not None and pauses.is_paused(pause):
        raise ChannelPaused(channel, pause.until)
    record = _record(payload)
    claimed_at = None
    if record is not None:
        keeper, row_id = record
        claimed_at = keeper.claim(row_id)
        if claimed_at is None:
            logger.info("single %s message %s not sent: already sent, used or expired", channel, message.reference)
            raise NotWanted(message.reference)
    sent_at = timezone.now()
    try:
        result = get_channel(channel).send(message)
    except ChannelError as exc:
        logger.warning(
            "single %s message %s failed (%s, code %s)",
            channel,
            message.reference,
            "permanent" if exc.permanent else "transient",
            exc.code or "-",
        )
        held = _pause_for(channel, exc) if channel in _PAUSABLE else None
        if record is not None and claimed_at is not None:
            if held is not None or not exc.permanent:
                # Not taken, and tried again (after the pause, or by the task's retry, which
                # says when): free for that task, or for the beat if that task is lost.
                keeper.release(row_id, claimed_at, retry_at=held.until if held is not None else timezone.now())
            else:
                _answered(keeper, row_id, claimed_at, message.reference)  # refused for good
        if held is not None:
            raise ChannelPaused(channel, held.until) from exc
        raise
    logger.info("single %s message %s handed over as %s", channel, message.reference, result.provider_message_id)
    if record is not None and claimed_at is not None:
        _answered(keeper, row_id, claimed_at, message.reference)
    if channel in _PAUSABLE:
        pauses.count_outage(channel, [result])  # accepted: an outage's count starts again
        if pause is not None:
            # The pause had ended and this message was the first try since: taken, so
            # the pause is over (as an alert's first accepted round ends it).
            pauses.resume_channel(channel, sent_since=sent_at)
    return result


def _answered(keeper: ModuleType, row_id: int, claimed_at: datetime.datetime, reference: str) -> None:
    """Record that the provider answered the claim: the message is not to be sent again.
    Never raises: the provider has answered, and a failure here must not retry it."""
    try:
        keeper.answered(row_id, claimed_at)
    except Exception:
        # Left claimed and unanswered: the beat may send it again once the claim is stale.
        logger.exception("single message %s: could not record the provider's answer", reference)


def _pause_for(channel: str, error: ChannelError) -> ChannelPause | None:
    """Pause ``channel`` when ``error`` says its provider refuses our account, or is down
    (counted with the alerts' answers, ``pauses.count_outage``). Returns the pause when
    the message should wait for it: the provider did not take it."""
    if error.account:
        return pauses.pause_channel(channel, error)
    outage = pauses.count_outage(channel, [error])
    if outage is None:
        return None
    pause = pauses.pause_channel(channel, outage)
    return pause if error.outage else None


def wait_for_pause(messages: list[dict], until: datetime.datetime, *, retries: int = 0) -> list[dict]:
    """Queue ``messages`` (one task) again for ``until``, their channel's pause's end,
    plus ``PAUSE_JITTER_SECONDS``, with the ``retries`` their task had spent: waiting
    spends none. Returns the messages queued.

    Each countdown stays under half the broker's visibility timeout (a longer one would
    run twice); a message still paused then waits again. Dropped instead, each logged
    by its reference: a message that expires (``expires_at``) before it could be sent,
    and every message when tasks run in-process (CELERY_TASK_ALWAYS_EAGER, development:
    there is no queue to wait in).
    """
    from alerts.tasks import send_single_message

    now = time.time()
    send_at = until.timestamp() + random.uniform(*PAUSE_JITTER_SECONDS)
    at = until.isoformat(timespec="seconds")
    waiting: list[dict] = []
    for message in messages:
        if "expires_at" not in message:  # queued before messages carried it: from now
            message = {**message, "expires_at": now + settings.VERIFICATION_CODE_TTL_SECONDS}
        if message["expires_at"] <= send_at:
            logger.warning(
                "single %s message %s dropped: its channel is paused until %s, after the message expires",
                message.get("channel"),
                message.get("reference"),
                at,
            )
        elif send_single_message.app.conf.task_always_eager:
            logger.warning(
                "single %s message %s dropped: its channel is paused until %s and tasks run in-process",
                message.get("channel"),
                message.get("reference"),
                at,
            )
        else:
            waiting.append(message)
    if not waiting:
        return []
    argument: dict | list[dict] = waiting[0] if len(waiting) == 1 else waiting
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    countdown = max(0.0, min(send_at - now, visibility / 2))
    postpone_messages(waiting, timezone.now() + datetime.timedelta(seconds=countdown))
    send_single_message.apply_async(
        (argument,),
        countdown=countdown,
        retries=retries,
        argsrepr=shown_arguments(argument),
        kwargsrepr="{}",
    )
    logger.info(
        "single message(s) %s wait for the channel's pause until %s (%d retries spent, none more)",
        shown_arguments(argument),
        at,
        retries,
    )
    return waiting
