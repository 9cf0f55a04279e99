"""Single messages outside an alert: verification codes, self-service links, replies.

``queue_message`` hands the message to a Celery task once the surrounding transaction
commits (so no task refers to a row that may still roll back); the task sends it through
the configured channel and retries transient failures with backoff.
"""

from __future__ import annotations

import logging

from django.db import transaction

from alerts.channels import ChannelError, OutgoingMessage, SendResult, get_channel

logger = logging.getLogger(__name__)


def queue_message(
    channel: str, to: str, body: str, *, subject: str = "", html_body: str = "", reference: str = ""
) -> None:
    """Send a message after the current transaction commits (at once outside one)."""
    queue_messages([message_payload(channel, to, body, subject=subject, html_body=html_body, reference=reference)])


def message_payload(
    channel: str, to: str, body: str, *, subject: str = "", html_body: str = "", reference: str = ""
) -> dict:
    """The task payload of one message (what ``send_message`` takes)."""
    return {
        "channel": channel,
        "to": to,
        "body": body,
        "subject": subject,
        "html_body": html_body,
        "reference": reference,
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
    """Send one message now. Raises ChannelError as the channel does."""
    message = OutgoingMessage(
        channel=payload["channel"],
        to=payload["to"],
        body=payload["body"],
        subject=payload.get("subject", ""),
        html_body=payload.get("html_body", ""),
        reference=payload.get("reference", ""),
    )
    try:
        result = get_channel(message.channel).send(message)
    except ChannelError as exc:
        logger.warning(
            "single %s message %s failed (%s, code %s)",
            message.channel,
            message.reference,
            "permanent" if exc.permanent else "transient",
            exc.code or "-",
        )
        raise
    logger.info(
        "single %s message %s handed over as %s", message.channel, message.reference, result.provider_message_id
    )
    return result
