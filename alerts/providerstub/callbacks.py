"""Callbacks the providers make after accepting a message, signed as they sign them.

Twilio POSTs the message's status (``sent``, then ``delivered`` or a failure with an
``ErrorCode``) form-encoded to the message's ``StatusCallback`` URL with an
``X-Twilio-Signature`` (HMAC-SHA1 over the URL and the sorted fields, computed by the
twilio package's ``RequestValidator``). SendGrid POSTs JSON arrays of events to the
account's Event Webhook, signed with ECDSA (P-256, SHA-256) over timestamp + raw body.

Everything here runs as tasks on the stub's event loop after the answer is on its way,
so callbacks never slow the request path. They are sent only while a
``callback_base`` is configured.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import aiohttp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from twilio.request_validator import RequestValidator
from yarl import URL

from alerts.providerstub.state import TWILIO_DELIVERY_ERRORS

if TYPE_CHECKING:
    from alerts.providerstub.state import StubConfig, StubState

API_VERSION = "2010-04-01"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


class EventSigningKey:
    """The ECDSA key pair SendGrid signs its Event Webhook with (one per stub)."""

    def __init__(self) -> None:
        self._private = ec.generate_private_key(ec.SECP256R1())
        der = self._private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        #: base64 of the DER public key, as SendGrid shows it under Mail Settings.
        self.public_key = base64.b64encode(der).decode()

    def sign(self, timestamp: str, payload: bytes) -> str:
        signature = self._private.sign(timestamp.encode() + payload, ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(signature).decode()


def delivery_url(callback_base: str, given_url: str) -> str:
    """Where a callback for ``given_url`` goes: the callback base with its path and query."""
    parts = urlsplit(given_url)
    path = parts.path or "/"
    return callback_base.rstrip("/") + path + (f"?{parts.query}" if parts.query else "")


class CallbackSender:
    """Schedules and sends callbacks on the stub's event loop."""

    def __init__(self, state: StubState, key: EventSigningKey, concurrency: int = 64) -> None:
        self.state = state
        self.key = key
        self._concurrency = concurrency
        self._session: aiohttp.ClientSession | None = None
        self._limit: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _post(self, kind: str, url: str, data: bytes, headers: dict[str, str], payload: Any, generation: int):
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
            self._limit = asyncio.Semaphore(self._concurrency)
        assert self._limit is not None
        entry: dict[str, Any] = {"kind": kind, "url": url, "headers": headers, "payload": payload, "raw": data}
        async with self._limit:
            entry["sent_at"] = time.time()
            try:
                # encoded=True: call the URL exactly as given (and signed); yarl would
                # otherwise normalise its escapes and the signature would not match.
                async with self._session.post(URL(url, encoded=True), data=data, headers=headers) as response:
                    await response.read()
                    entry["status_code"] = response.status
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                entry["status_code"] = None
                entry["error"] = f"{type(exc).__name__}: {exc}"
        self.state.record_callback(entry, generation)

    # --- Twilio ---------------------------------------------------------------------------
    def schedule_sms(
        self, message: dict[str, Any], callback_url: str, config: StubConfig, account_sid: str, auth_token: str
    ) -> None:
        url = delivery_url(config.callback_base or "", callback_url)
        self._spawn(self._sms_lifecycle(message, url, config, account_sid, auth_token, self.state.generation))

    async def _sms_lifecycle(self, message, url, config, account_sid, auth_token, generation) -> None:
        validator = RequestValidator(auth_token)
        await asyncio.sleep(message["sent_after_ms"] / 1000)
        await self._sms_status(message, "sent", url, validator, account_sid, generation)
        await asyncio.sleep(max(message["final_after_ms"] - message["sent_after_ms"], 0) / 1000)
        await self._sms_status(message, message["final_status"], url, validator, account_sid, generation)

    async def _sms_status(self, message, status, url, validator, account_sid, generation) -> None:
        fields = {
            "SmsSid": message["sid"],
            "SmsStatus": status,
            "MessageStatus": status,
            "To": message["to"],
            "MessageSid": message["sid"],
            "AccountSid": account_sid,
            "From": message["from"] or message["service_from"],
            "ApiVersion": API_VERSION,
        }
        if message["messaging_service_sid"]:
            fields["MessagingServiceSid"] = message["messaging_service_sid"]
        if status in ("undelivered", "failed") and message["error_code"]:
            fields["ErrorCode"] = str(message["error_code"])
            fields["ErrorMessage"] = TWILIO_DELIVERY_ERRORS.get(message["error_code"], "")
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": validator.compute_signature(url, fields),
            "User-Agent": "TwilioProxy/1.1",
            "I-Twilio-Idempotency-Token": secrets.token_hex(16),
        }
        await self._post("twilio-status", url, urlencode(fields).encode(), headers, fields, generation)

    # --- SendGrid -------------------------------------------------------------------------
    def schedule_email(self, message_id: str, payload: dict[str, Any], url: str, config: StubConfig) -> None:
        self._spawn(self._email_lifecycle(message_id, payload, url, config, self.state.generation))

    async def _email_lifecycle(self, message_id, payload, url, config, generation) -> None:
        recipients = []
        shared_args = payload.get("custom_args") or {}
        for index, item in enumerate(payload["personalizations"]):
            args = {**shared_args, **(item.get("custom_args") or {})}
            for address in item["to"]:
                recipients.append((address["email"], args, f"{message_id}.stubrecv-{index}-0"))
        await asyncio.sleep(config.sent_after_ms / 1000)
        await self._events(recipients, lambda email: "processed", url, generation)
        await asyncio.sleep(max(config.final_after_ms - config.sent_after_ms, 0) / 1000)
        await self._events(
            recipients, lambda email: config.email_outcomes.get(email, config.email_final_event), url, generation
        )

    async def _events(self, recipients, event_for, url, generation) -> None:
        now = int(time.time())
        events = []
        for email, args, sg_message_id in recipients:
            event = event_for(email)
            item: dict[str, Any] = {
                **args,  # SendGrid puts custom_args at the top level of each event
                "email": email,
                "timestamp": now,
                "event": event,
                "sg_event_id": base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("="),
                "sg_message_id": sg_message_id,
                "smtp-id": f"<{sg_message_id}@stub.sendgrid.net>",
            }
            if event == "bounce":
                item.update(type="bounce", status="5.1.1", reason="550 5.1.1 The email account does not exist.")
            elif event == "dropped":
                item.update(reason="Bounced Address", status="5.0.0")
            elif event == "deferred":
                item.update(response="421 4.7.0 Try again later", attempt="1")
            elif event == "delivered":
                item.update(response="250 2.0.0 OK", ip="127.0.0.1")
            events.append(item)
        raw = json.dumps(events).encode()
        timestamp = str(now)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: self.key.sign(timestamp, raw),
            TIMESTAMP_HEADER: timestamp,
            "User-Agent": "SendGrid Event API",
        }
        await self._post("sendgrid-events", url, raw, headers, events, generation)
