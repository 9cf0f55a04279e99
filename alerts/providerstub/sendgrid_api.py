"""SendGrid's v3 Mail Send (``POST /v3/mail/send``), as far as this project uses it.

A valid request is answered ``202 Accepted`` with an empty body and an ``X-Message-Id``
header; an invalid one ``400`` with ``{"errors": [{"message", "field", "help"}]}``,
listing every problem found, as SendGrid does. ``field`` is left out and ``help`` is an
object where the published description types it so (SendGrid's own answers sometimes
carry ``null`` and a plain link there, which the description does not allow).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from alerts.providerstub.exchange import answer, request_record
from alerts.providerstub.state import Failure, StubConfig

if TYPE_CHECKING:
    from alerts.providerstub.callbacks import CallbackSender
    from alerts.providerstub.state import StubState

_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}$")
_JSON = "application/json"
_HELP = "https://docs.sendgrid.com/api-reference/mail-send/errors"
MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000
MAX_BODY_BYTES = 30 * 1024 * 1024
_STATUS_MESSAGES = {
    400: "Bad Request",
    401: "The provided authorization grant is invalid, expired, or revoked",
    403: "access forbidden",
    404: "not found",
    413: "content too large",
    429: "too many requests",
    500: "internal server error",
    503: "service unavailable",
}
_RESERVED_HEADERS = {
    "x-sg-id",
    "x-sg-eid",
    "received",
    "dkim-signature",
    "content-type",
    "content-transfer-encoding",
    "to",
    "from",
    "subject",
    "reply-to",
    "cc",
    "bcc",
}


def sendgrid_error(status: int, errors: list[tuple[str, str | None]], retry_after: int | None = None) -> web.Response:
    items = []
    for message, field in errors:
        item: dict[str, Any] = {"message": message, "help": {"url": _HELP}}
        if field is not None:
            item["field"] = field
        items.append(item)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return web.Response(status=status, text=json.dumps({"errors": items}), content_type=_JSON, headers=headers)


def _string_map(value: Any, field: str, errors: list[tuple[str, str | None]]) -> int:
    """Check a map of strings (headers, custom_args, substitutions); return its size in bytes."""
    if not isinstance(value, dict):
        errors.append(("Invalid type. Expected: object, given: " + type(value).__name__ + ".", field))
        return 0
    size = 0
    for key, item in value.items():
        if not isinstance(item, str):
            errors.append((f"Invalid type. Expected: string, given: {type(item).__name__}.", f"{field}.{key}"))
        else:
            size += len(key.encode()) + len(item.encode())
    return size


def validate_mail(body: Any) -> list[tuple[str, str | None]]:
    """Every problem SendGrid would report for this request body (empty: valid)."""
    errors: list[tuple[str, str | None]] = []
    if not isinstance(body, dict):
        return [("Bad Request", None)]
    has_template = bool(body.get("template_id"))
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        errors.append(
            (
                "The personalizations field is required and must have at least one personalization.",
                "personalizations",
            )
        )
        personalizations = []
    elif len(personalizations) > MAX_PERSONALIZATIONS:
        errors.append(
            ("The personalizations field must have 1000 or fewer personalization objects.", "personalizations")
        )
    recipients = 0
    every_has_subject = bool(personalizations)
    for i, item in enumerate(personalizations):
        where = f"personalizations.{i}"
        if not isinstance(item, dict):
            errors.append(("Invalid type. Expected: object.", where))
            continue
        to = item.get("to")
        if not isinstance(to, list) or not to:
            errors.append(
                (
                    "The to array is required for all personalization objects, and must have at least one "
                    "email object with a valid email address.",
                    f"{where}.to",
                )
            )
            to = []
        for kind in ("to", "cc", "bcc"):
            addresses = to if kind == "to" else item.get(kind) or []
            for j, address in enumerate(addresses):
                recipients += 1
                email = address.get("email") if isinstance(address, dict) else None
                if not isinstance(email, str) or not _EMAIL.match(email):
                    errors.append(("Does not contain a valid address.", f"{where}.{kind}.{j}.email"))
        if not item.get("subject"):
            every_has_subject = False
        for name in ("headers", "custom_args", "substitutions"):
            if name in item:
                size = _string_map(item[name], f"{where}.{name}", errors)
                if size > 10000:
                    errors.append((f"The {name} of a personalization may not exceed 10,000 bytes.", f"{where}.{name}"))
        for header in item.get("headers") or {}:
            if isinstance(header, str) and header.lower() in _RESERVED_HEADERS:
                errors.append((f"The header {header} is reserved and may not be set.", f"{where}.headers"))
    if recipients > MAX_RECIPIENTS:
        errors.append(("The total number of recipients must be 1000 or fewer.", "personalizations"))
    sender = body.get("from")
    if not isinstance(sender, dict) or not isinstance(sender.get("email"), str):
        errors.append(
            (
                "The from object must be provided for every email send. It is an object that requires an email "
                "parameter, but may also contain a name parameter.",
                "from.email",
            )
        )
    elif not _EMAIL.match(sender["email"]):
        errors.append(("The from email does not contain a valid address.", "from.email"))
    if not body.get("subject") and not has_template and not every_has_subject:
        errors.append(
            (
                "The subject is required. You can get around this requirement if you use a template with a "
                "subject defined or if every personalization has a subject defined.",
                "subject",
            )
        )
    content = body.get("content")
    if not has_template:
        if not isinstance(content, list) or not content:
            errors.append(
                (
                    "Unless a valid template_id is provided, the content parameter is required. There must be "
                    "at least one defined content block.",
                    "content",
                )
            )
            content = []
        types = []
        for i, block in enumerate(content):
            if not isinstance(block, dict) or not isinstance(block.get("type"), str):
                errors.append(("Content blocks need a type.", f"content.{i}.type"))
                continue
            if not isinstance(block.get("value"), str) or not block["value"]:
                errors.append(
                    ("The content value must be a string at least one character in length.", f"content.{i}.value")
                )
            types.append(block["type"])
        if "text/plain" in types and types[0] != "text/plain":
            errors.append(
                (
                    "If present, text/plain content must be first, followed by text/html, followed by any "
                    "other content.",
                    "content.0.type",
                )
            )
    for name in ("headers", "custom_args"):
        if name in body:
            _string_map(body[name], name, errors)
    return errors


class SendGridAPI:
    """Request handler for Mail Send; one instance per stub."""

    def __init__(self, state: StubState, callbacks: CallbackSender, api_key: str) -> None:
        self.state = state
        self.callbacks = callbacks
        self._expected_auth = f"Bearer {api_key}"

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v3/mail/send", self.send_mail)]

    async def send_mail(self, request: web.Request) -> web.Response:
        state = self.state
        started = time.monotonic()
        received_at = time.time()
        generation = state.enter()
        try:
            raw = await request.read()
            record = request_record(
                request, "email", started, received_at, json=None, in_flight_at_start=state.in_flight
            )
            refused, payload = self._validate(request, raw, record)
            config = state.config
            return await answer(
                request,
                state,
                record,
                generation,
                refused,
                lambda failure: self._failure(failure, config),
                lambda: self._accept(payload, record, config),
            )
        finally:
            state.leave(generation)

    def _validate(self, request: web.Request, raw: bytes, record: dict[str, Any]) -> tuple[web.Response | None, Any]:
        if request.headers.get("Authorization") != self._expected_auth:
            return sendgrid_error(401, [(_STATUS_MESSAGES[401], None)]), None
        if len(raw) > MAX_BODY_BYTES:
            return sendgrid_error(413, [(_STATUS_MESSAGES[413], None)]), None
        try:
            payload = json.loads(raw)
        except ValueError:
            return sendgrid_error(400, [("Bad Request", None)]), None
        record["json"] = payload
        if isinstance(payload, dict):
            personalizations = payload.get("personalizations")
            if isinstance(personalizations, list):
                record["batch_size"] = len(personalizations)
                record["to"] = [
                    address.get("email")
                    for item in personalizations
                    if isinstance(item, dict)
                    for address in (item.get("to") or [])
                    if isinstance(address, dict)
                ]
            content = payload.get("content")
            if isinstance(content, list) and content and isinstance(content[0], dict):
                record["body"] = content[0].get("value", "")
        errors = validate_mail(payload)
        if errors:
            return sendgrid_error(400, errors), None
        return None, payload

    @staticmethod
    def _failure(failure: Failure, config: StubConfig) -> web.Response:
        status = failure.http_status
        retry_after = failure.retry_after
        if retry_after is None and status == 429:
            retry_after = config.retry_after
        return sendgrid_error(status, [(_STATUS_MESSAGES.get(status, "error"), None)], retry_after)

    def _accept(self, payload: dict[str, Any], record: dict[str, Any], config: StubConfig) -> web.Response:
        message_id = secrets.token_urlsafe(16)[:22]
        record["message_id"] = message_id
        if config.callback_base:
            url = config.callback_base.rstrip("/") + config.sendgrid_events_path
            record["callback_url"] = url
            self.callbacks.schedule_email(message_id, payload, url, config)
        return web.Response(status=202, headers={"X-Message-Id": message_id})
