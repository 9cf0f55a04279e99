"""Email through SendGrid's v3 Mail Send, with the official ``sendgrid`` SDK.

SendGrid personalises on its side: one request carries one subject and body template
and up to 1,000 personalizations, each with its recipient, substitutions, headers and
``custom_args``. ``custom_args.reference`` names the delivery, so the Event Webhook's
events (which carry custom_args at their top level) map back to it. SendGrid answers a
request as a whole: every recipient of a refused request gets the same error (except
when a 400 blames only some personalizations, e.g. a malformed address: those fail
alone and the others are sent again, once), and every recipient of an accepted one the
same ``X-Message-Id`` (the prefix of the ``sg_message_id`` of their events).
"""

from __future__ import annotations

import json
import logging
import urllib.error
from collections.abc import Mapping, Sequence
from http.client import HTTPException
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from alerts.channels.base import (
    LIST_UNSUBSCRIBE_POST,
    BatchFirstChannel,
    ChannelError,
    OutgoingMessage,
    PersonalizedBatch,
    RateLimiter,
    Recipient,
    SendResult,
)

logger = logging.getLogger(__name__)

MAX_PERSONALIZATIONS = 1000  # SendGrid's limit per Mail Send request
REFERENCE_ARG = "reference"  # custom_args key the event webhook reads the delivery from


def _retry_after(headers: Any) -> float | None:
    try:
        raw = headers.get("Retry-After") if headers is not None else None
        return max(float(raw), 0.0) if raw else None
    except (TypeError, ValueError):
        return None


def map_sendgrid_error(exc: HTTPError) -> ChannelError:
    """The ``ChannelError`` for an error answer of Mail Send."""
    status = int(exc.status_code)
    detail = ""
    try:
        errors = json.loads(exc.body or b"{}").get("errors") or []
        fields = sorted({e.get("field") for e in errors if isinstance(e, dict) and e.get("field")})
        detail = f" ({', '.join(fields)})" if fields else ""
    except (ValueError, AttributeError, TypeError):
        pass
    if status == 429:  # HTTP 429: rate limit -> transient, after Retry-After when given
        return ChannelError(
            "sendgrid HTTP 429: too many requests",
            permanent=False,
            code="429",
            retry_after=_retry_after(exc.headers),
        )
    if status >= 500:  # HTTP 5xx: SendGrid's fault -> transient
        return ChannelError(f"sendgrid HTTP {status}: server error", permanent=False, code=str(status), outage=True)
    if status in (401, 403):  # our API key or sender identity refused: the channel pauses
        return ChannelError(
            f"sendgrid HTTP {status}: our API key or sender was refused{detail}",
            permanent=False,
            code=str(status),
            account=True,
        )
    # HTTP 4xx (400 invalid request, 413 too large): the same request would be refused
    # again -> permanent.
    return ChannelError(f"sendgrid HTTP {status}: refused{detail}", permanent=True, code=str(status))


def refused_personalizations(exc: HTTPError) -> set[int] | None:
    """Indexes of the personalizations a 400 blames, when it blames nothing else."""
    try:
        errors = json.loads(exc.body or b"{}").get("errors") or []
    except (ValueError, AttributeError, TypeError):
        return None
    indexes: set[int] = set()
    for error in errors:
        parts = str(error.get("field") or "").split(".") if isinstance(error, dict) else []
        if len(parts) < 3 or parts[0] != "personalizations" or not parts[1].isdigit():
            return None  # the request as a whole is wrong
        indexes.add(int(parts[1]))
    return indexes or None


def _plain(mapping: Mapping[str, str]) -> dict[str, str]:
    """``mapping`` as a dict JSON can take, copied only when it is not one already."""
    return mapping if isinstance(mapping, dict) else dict(mapping)


class SendGridEmailChannel(BatchFirstChannel):
    """Email through SendGrid. Settings: ``SENDGRID_*``, ``EMAIL_FROM_*``, ``PROVIDER_TIMEOUT_SECONDS``."""

    kind = "email"

    def __init__(self, *, timeout: float | None = None) -> None:
        self.api_key = settings.SENDGRID_API_KEY
        if not self.api_key:
            raise ImproperlyConfigured("EMAIL_BACKEND_NAME=sendgrid needs SENDGRID_API_KEY")
        self.host = settings.SENDGRID_API_BASE_URL.rstrip("/")
        self.timeout = float(timeout if timeout is not None else settings.PROVIDER_TIMEOUT_SECONDS)
        self.sender = {"email": settings.EMAIL_FROM_ADDRESS}
        if settings.EMAIL_FROM_NAME:
            self.sender["name"] = settings.EMAIL_FROM_NAME
        self.sg = SendGridAPIClient(api_key=self.api_key, host=self.host)

    # --- the contract ----------------------------------------------------------------------
    def send_batch(
        self, messages: Sequence[OutgoingMessage], limiter: RateLimiter | None = None
    ) -> list[SendResult | ChannelError]:
        """Send each message; messages with the same subject and bodies share requests.

        One result per message, in order. ``limiter.acquire()`` is called before each
        request when given.
        """
        results: list[SendResult | ChannelError | None] = [None] * len(messages)
        groups: dict[tuple[str, str, str], list[int]] = {}
        for index, message in enumerate(messages):
            groups.setdefault((message.subject, message.body, message.html_body), []).append(index)
        for (subject, body, html_body), indexes in groups.items():
            batch = PersonalizedBatch(
                subject=subject,
                body=body,
                html_body=html_body,
                recipients=[
                    Recipient(
                        to=messages[i].to,
                        reference=messages[i].reference,
                        headers=messages[i].headers,
                        unsubscribe_url=messages[i].unsubscribe_url,
                    )
                    for i in indexes
                ],
            )
            for index, result in zip(indexes, self._send_personalized(batch, limiter), strict=True):
                results[index] = result
        return [r if r is not None else ChannelError("not sent", permanent=False) for r in results]

    def send_personalized(self, batch: PersonalizedBatch) -> list[SendResult | ChannelError]:
        """Send ``batch`` in requests of up to 1,000 personalizations; one result per recipient."""
        return self._send_personalized(batch, None)

    # --- requests --------------------------------------------------------------------------
    def _send_personalized(
        self, batch: PersonalizedBatch, limiter: RateLimiter | None
    ) -> list[SendResult | ChannelError]:
        results: list[SendResult | ChannelError] = []
        recipients = list(batch.recipients)
        for start in range(0, len(recipients), MAX_PERSONALIZATIONS):
            chunk = recipients[start : start + MAX_PERSONALIZATIONS]
            sendable = [r for r in chunk if r.to]
            sent = iter(self._send_chunk(batch, sendable, limiter) if sendable else [])
            results.extend(
                next(sent) if r.to else ChannelError("no address", permanent=True, code="no-address") for r in chunk
            )
        return results

    def _send_chunk(
        self, batch: PersonalizedBatch, recipients: list[Recipient], limiter: RateLimiter | None, *, again: bool = True
    ) -> list[SendResult | ChannelError]:
        if limiter is not None:
            limiter.acquire()
        outcome, refused = self._post(self.request_body(batch, recipients), len(recipients))
        if isinstance(outcome, ChannelError) and refused and again and len(refused) < len(recipients):
            # SendGrid refuses a whole request for one bad address: fail those recipients
            # alone and send the others again, once.
            others = iter(
                self._send_chunk(batch, [r for i, r in enumerate(recipients) if i not in refused], limiter, again=False)
            )
            return [outcome if i in refused else next(others) for i in range(len(recipients))]
        return [outcome] * len(recipients)

    def request_body(self, batch: PersonalizedBatch, recipients: Sequence[Recipient]) -> dict[str, Any]:
        """The Mail Send request for ``recipients`` (at most 1,000) of ``batch``."""
        personalizations = []
        for recipient in recipients:
            # Serialised at once: the recipient's own mappings go in as they are.
            item: dict[str, Any] = {"to": [{"email": recipient.to}]}
            if recipient.substitutions:
                item["substitutions"] = _plain(recipient.substitutions)
            if recipient.unsubscribe_url:
                item["headers"] = {
                    **recipient.headers,
                    "List-Unsubscribe": f"<{recipient.unsubscribe_url}>",
                    "List-Unsubscribe-Post": LIST_UNSUBSCRIBE_POST,
                }
            elif recipient.headers:
                item["headers"] = _plain(recipient.headers)
            if recipient.reference:
                item["custom_args"] = {REFERENCE_ARG: recipient.reference}
            personalizations.append(item)
        content = [{"type": "text/plain", "value": batch.body}]
        if batch.html_body:
            content.append({"type": "text/html", "value": batch.html_body})
        return {
            "personalizations": personalizations,
            "from": self.sender,
            "subject": batch.subject,
            "content": content,
        }

    def _post(self, body: dict[str, Any], count: int) -> tuple[SendResult | ChannelError, set[int] | None]:
        """Send one request. Returns the outcome and, for a 400 that blames only some
        personalizations, their indexes."""
        refused: set[int] | None = None
        try:
            # The SDK's send() takes no timeout; its HTTP client's post() does.
            response = self.sg.client.mail.send.post(request_body=body, timeout=self.timeout)
        except HTTPError as exc:
            error = map_sendgrid_error(exc)
            if int(exc.status_code) == 400:
                refused = refused_personalizations(exc)
        # Timeouts and failed or lost connections are ``unreachable``: many in a row pause
        # the channel (alerts.services.pauses), whatever each one means for its message.
        except TimeoutError:
            error = ChannelError(
                f"sendgrid: no answer within {self.timeout:g}s", permanent=False, code="timeout", unreachable=True
            )
        except urllib.error.URLError as exc:
            # urllib wraps what fails before the request is out (a refused connection, a
            # timeout while connecting): SendGrid cannot have taken it, safe to retry.
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                error = ChannelError(
                    f"sendgrid: no answer within {self.timeout:g}s", permanent=False, code="timeout", unreachable=True
                )
            else:
                error = ChannelError(
                    f"sendgrid: connection failed ({type(reason).__name__})",
                    permanent=False,
                    code="connection",
                    unreachable=True,
                )
        except (HTTPException, OSError) as exc:
            # The request went out and the connection dropped before the answer was read
            # (RemoteDisconnected, a reset, IncompleteRead): SendGrid may well have taken
            # it, so this is as unclear as a timeout and must never be sent again.
            error = ChannelError(
                f"sendgrid: connection lost before the answer ({type(exc).__name__})",
                permanent=False,
                code="answer",
                unreachable=True,
            )
        else:
            message_id = response.headers.get("X-Message-Id", "")
            if not message_id:
                # Accepted, but nothing to match events by: say so, but do not send again.
                logger.warning("sendgrid accepted %d personalizations without an X-Message-Id", count)
            logger.debug("sendgrid accepted %d personalizations as %s", count, message_id)
            return SendResult(provider_message_id=message_id), None
        logger.info(
            "sendgrid refused a request of %d personalizations: %s, %s",
            count,
            error.message,
            "permanent" if error.permanent else "transient",
        )
        return error, refused
