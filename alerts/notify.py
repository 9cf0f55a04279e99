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
"""

from __future__ import annotations

import datetime
import logging
import random
import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from alerts.channels import ChannelError, OutgoingMessage, SendResult, get_channel
from alerts.models import ChannelPause
from alerts.services import pauses

logger = logging.getLogger(__name__)

#: A message waiting for a pause is queued again this many seconds after its end (drawn
#: between the two): the waiting messages do not all reach the provider at once, and
#: those after the first see its answer (accepted: the pause ended; refused: renewed).
PAUSE_JITTER_SECONDS = (1.0, 6.0)
#: Channels that pause (``ChannelPause.channel``).
_PAUSABLE = frozenset({"sms", "email"})


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
) -> dict:
    """The task payload of one message (what ``send_message`` takes).

    ``valid_for``: seconds from now after which the message is not worth sending
    (``expires_at``, a Unix time); ``VERIFICATION_CODE_TTL_SECONDS`` unless given.
    """
    seconds = settings.VERIFICATION_CODE_TTL_SECONDS if valid_for is None else valid_for
    return {
        "channel": channel,
        "to": to,
        "body": body,
        "subject": subject,
        "html_body": html_body,
        "reference": reference,
        "expires_at": time.time() + seconds,
    }


def queue_messages(payloads: list[dict]) -> None:
    """Send messages after the current transaction commits, in one task (one broker publish).

    One request's messages (a registration's SMS code and email link) travel together;
    the task still sends each on its own and retries only those that failed transiently.
    A single message is queued as before (a dict, not a list of one).
    """
    from alerts.tasks import send_single_message

    if not payloads:
        return
    argument: dict | list[dict] = payloads[0] if len(payloads) == 1 else list(payloads)

    def enqueue() -> None:
        # The row this message is about is committed; a broker outage (or, with tasks run
        # in-process, a provider failure still being retried) must not turn the person's
        # finished request into an error page. They can ask for a new code or link.
        try:
            # The task's shown arguments (broker headers, monitoring, worker logs) name the
            # messages, never their addresses or texts; Celery need not repr the payload.
            send_single_message.apply_async((argument,), argsrepr=shown_arguments(argument), kwargsrepr="{}")
        except Exception:
            logger.exception("could not queue the message(s) %s", shown_arguments(argument))

    transaction.on_commit(enqueue)


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
    if pause is not None and pauses.is_paused(pause):
        raise ChannelPaused(channel, pause.until)
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
        if held is not None:
            raise ChannelPaused(channel, held.until) from exc
        raise
    logger.info("single %s message %s handed over as %s", channel, message.reference, result.provider_message_id)
    if channel in _PAUSABLE:
        pauses.count_outage(channel, [result])  # accepted: an outage's count starts again
        if pause is not None:
            # The pause had ended and this message was the first try since: taken, so
            # the pause is over (as an alert's first accepted round ends it).
            pauses.resume_channel(channel, sent_since=sent_at)
    return result


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
