"""Twilio's Programmable Messaging API (2010-04-01), as far as this project uses it.

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` creates a message,
``GET .../Messages/{Sid}.json`` fetches one and ``GET .../Messages.json`` lists them with
the ``To``, ``From`` and ``DateSent``/``DateSent<``/``DateSent>`` filters (inclusive, to
the second, as the dates are shown) and Twilio's paging, newest first by date sent.
Inbound messages ("as if Twilio received them", direction ``inbound``, status
``received``) are put in by a test (``receive_sms``, or ``POST /_stub/inbound``) and are
listed and fetched with the others. Answers follow the published schema
(``api.v2010.account.message``); errors use Twilio's body ``{code, message, more_info,
status}``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import re
import secrets
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

from alerts.providerstub.exchange import answer, request_record
from alerts.providerstub.state import (
    TWILIO_CODE_FOR_STATUS,
    TWILIO_DELIVERY_ERRORS,
    TWILIO_ERRORS,
    Failure,
    StubConfig,
)

if TYPE_CHECKING:
    from alerts.providerstub.callbacks import CallbackSender
    from alerts.providerstub.state import StubState

API_VERSION = "2010-04-01"
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€"
)
_JSON = "application/json"


def rfc2822(timestamp: float) -> str:
    """Twilio's date format: ``Thu, 24 Aug 2023 05:01:45 +0000``."""
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(timestamp))


def segments(body: str) -> int:
    """How many SMS segments ``body`` takes (GSM-7 when it can, UCS-2 otherwise)."""
    if all(ch in _GSM7 for ch in body):
        single, multi = 160, 153
    else:
        single, multi = 70, 67
    return 1 if len(body) <= single else math.ceil(len(body) / multi)


def twilio_error(code: int, *, status: int | None = None, message: str = "", retry_after: int | None = None):
    """An error answer with Twilio's body."""
    default_status, default_message = TWILIO_ERRORS.get(code, (400, "Error"))
    status = status or default_status
    body = {
        "code": code,
        "message": message or default_message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return web.Response(status=status, text=json.dumps(body), content_type=_JSON, headers=headers)


def _parse_date(raw: str) -> datetime | None:
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d"):
        try:
            return datetime.strptime(raw, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


class TwilioAPI:
    """Request handlers for the Messages resource; one instance per stub."""

    def __init__(self, state: StubState, callbacks: CallbackSender, account_sid: str, auth_token: str) -> None:
        self.state = state
        self.callbacks = callbacks
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._expected_auth = "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()

    def routes(self) -> list[web.RouteDef]:
        base = "/2010-04-01/Accounts/{account_sid}"
        return [
            web.post(base + "/Messages.json", self.create_message),
            web.get(base + "/Messages.json", self.list_messages),
            web.get(base + "/Messages/{sid}.json", self.fetch_message),
        ]

    # --- helpers -------------------------------------------------------------------------
    def _check_auth(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != self._expected_auth:
            return twilio_error(20003)
        if request.match_info["account_sid"] != self.account_sid:
            return twilio_error(20404, message=f"The requested resource {request.path} was not found")
        return None

    def _status_now(self, message: dict[str, Any], now: float) -> tuple[str, float | None]:
        """The message's status at ``now`` and when it was sent (None: not yet)."""
        if message.get("direction") == "inbound":
            return message["initial_status"], message["date_sent"]
        age_ms = (now - message["created"]) * 1000
        if age_ms < message["sent_after_ms"]:
            return message["initial_status"], None
        sent_at = message["created"] + message["sent_after_ms"] / 1000
        if age_ms < message["final_after_ms"]:
            return "sent", sent_at
        return message["final_status"], sent_at

    def _resource(self, message: dict[str, Any], now: float) -> dict[str, Any]:
        status, sent_at = self._status_now(message, now)
        final = status in ("delivered", "undelivered", "failed", "received")
        error_code = message["error_code"] if final else None
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{message['sid']}"
        from_ = message["from"]
        if from_ is None and sent_at is not None:
            from_ = message["service_from"]
        updated = message["created"] if sent_at is None else (now if not final else sent_at)
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": message["body"],
            "date_created": rfc2822(message["created"]),
            "date_sent": rfc2822(sent_at) if sent_at is not None else None,
            "date_updated": rfc2822(updated),
            "direction": message.get("direction", "outbound-api"),
            "error_code": error_code,
            "error_message": TWILIO_DELIVERY_ERRORS.get(error_code) if error_code else None,
            "from": from_,
            "messaging_service_sid": message["messaging_service_sid"],
            "num_media": "0",
            "num_segments": str(message["num_segments"]),
            "price": None,
            "price_unit": "USD",
            "sid": message["sid"],
            "status": status,
            "subresource_uris": {"media": uri + "/Media.json", "feedback": uri + "/Feedback.json"},
            "to": message["to"],
            "uri": uri + ".json",
        }

    # --- handlers ------------------------------------------------------------------------
    async def create_message(self, request: web.Request) -> web.Response:
        state = self.state
        started = time.monotonic()
        received_at = time.time()
        generation = state.enter()
        try:
            form = await request.post()
            to = form.get("To", "")
            record = request_record(
                request,
                "sms",
                started,
                received_at,
                to=[to] if to else [],
                body=form.get("Body", ""),
                form={k: v for k, v in form.items() if isinstance(v, str)},
                batch_size=1,
                callback_url=form.get("StatusCallback") or None,
                in_flight_at_start=state.in_flight,
            )
            config = state.config
            return await answer(
                request,
                state,
                record,
                generation,
                self._validate(request, form, to),
                lambda failure: self._failure(failure, config),
                lambda: self._accept(form, to, record, config),
            )
        finally:
            state.leave(generation)

    def _validate(self, request: web.Request, form: Any, to: str) -> web.Response | None:
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        if not to:
            return twilio_error(21604)
        if not _E164.match(to):
            return twilio_error(21211, message=f"Invalid 'To' Phone Number: {to}")
        body = form.get("Body")
        if not body and not form.get("MediaUrl") and not form.get("ContentSid"):
            return twilio_error(21602)
        if len(body or "") > 1600:
            return twilio_error(21617)
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return twilio_error(21603)
        return None

    @staticmethod
    def _failure(failure: Failure, config: StubConfig) -> web.Response:
        code = failure.twilio_code or TWILIO_CODE_FOR_STATUS.get(failure.http_status, 20500)
        retry_after = failure.retry_after
        if retry_after is None and failure.http_status == 429:
            retry_after = config.retry_after
        return twilio_error(code, status=failure.http_status, retry_after=retry_after)

    def _accept(self, form: Any, to: str, record: dict[str, Any], config: StubConfig) -> web.Response:
        body = form.get("Body") or ""
        from_ = form.get("From") or None
        service_sid = form.get("MessagingServiceSid") or None
        now = time.time()
        outcome = config.sms_outcomes.get(to) or {}
        final_status = outcome.get("status", config.sms_final_status)
        error_code = outcome.get("error_code", config.sms_error_code)
        if final_status in ("undelivered", "failed") and error_code is None:
            error_code = 30003
        message = {
            "sid": "SM" + secrets.token_hex(16),
            "created": now,
            "to": to,
            "from": from_,
            "service_from": config.messaging_service_from,
            "messaging_service_sid": service_sid,
            "body": body,
            "num_segments": segments(body),
            "initial_status": "accepted" if service_sid and not from_ else "queued",
            "sent_after_ms": config.sent_after_ms,
            "final_after_ms": max(config.final_after_ms, config.sent_after_ms),
            "final_status": final_status,
            "error_code": error_code if final_status != "delivered" else None,
        }
        self.state.messages[message["sid"]] = message
        record["sid"] = message["sid"]
        callback_url = record["callback_url"]
        if callback_url and config.callback_base:
            self.callbacks.schedule_sms(message, callback_url, config, self.account_sid, self.auth_token)
        return web.Response(status=201, text=json.dumps(self._resource(message, now)), content_type=_JSON)

    def _listed_at(self, message: dict[str, Any], now: float) -> float:
        _, sent_at = self._status_now(message, now)
        return sent_at if sent_at is not None else message["created"]

    def receive(
        self,
        from_: str,
        to: str,
        body: str,
        *,
        sent_at: float | None = None,
        sid: str | None = None,
        status: str = "received",
        messaging_service_sid: str | None = None,
    ) -> dict[str, Any]:
        """Store an inbound SMS as if Twilio had received it at ``sent_at`` (a Unix time,
        now unless given) from ``from_`` to our number ``to``; return its resource. No
        webhook is called: it is what Twilio holds when our webhook was down."""
        if not _E164.match(from_ or "") or not _E164.match(to or ""):
            raise ValueError("from and to must be E.164 numbers")
        if status not in ("received", "receiving"):
            raise ValueError("an inbound message's status is 'received' or 'receiving'")
        sent = time.time() if sent_at is None else float(sent_at)
        sid = sid or "SM" + secrets.token_hex(16)
        if not re.fullmatch(r"(SM|MM)[0-9a-f]{32}", sid):
            raise ValueError("sid must be SM or MM and 32 lower-case hex digits")
        message = {
            "sid": sid,
            "created": sent,
            "date_sent": sent,
            "direction": "inbound",
            "to": to,
            "from": from_,
            "service_from": None,
            "messaging_service_sid": messaging_service_sid,
            "body": body,
            "num_segments": segments(body),
            "initial_status": status,
            "error_code": None,
        }
        self.state.messages[sid] = message
        return self._resource(message, time.time())

    async def fetch_message(self, request: web.Request) -> web.Response:
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        sid = request.match_info["sid"]
        message = self.state.messages.get(sid)
        if message is None:
            return twilio_error(20404, message=f"The requested resource {request.path} was not found")
        return web.Response(text=json.dumps(self._resource(message, time.time())), content_type=_JSON)

    async def list_messages(self, request: web.Request) -> web.Response:
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        query = request.query
        # Only rules for "sms-list" fail a list (a Twilio outage seen by the fetch of missed
        # inbound SMS); the sends' random failures leave it alone.
        failure = self.state.pick_failure("sms-list", [query.get("To", "")], random_failures=False)
        if failure is not None:
            if failure.latency_ms:
                await asyncio.sleep(failure.latency_ms / 1000)
            if failure.lose_answer:
                if request.transport is not None:
                    request.transport.abort()
                raise asyncio.CancelledError
            return self._failure(failure, self.state.config)
        try:
            page_size = min(max(int(query.get("PageSize", "50")), 1), 1000)
            page = max(int(query.get("Page", "0")), 0)
        except ValueError:
            return twilio_error(20001, message="Invalid paging parameter")
        filters: dict[str, datetime] = {}
        for key in ("DateSent", "DateSent<", "DateSent>"):
            if key in query:
                parsed = _parse_date(query[key])
                if parsed is None:
                    return twilio_error(20001, message=f"Invalid {key} value")
                filters[key] = parsed
        to, from_ = query.get("To"), query.get("From")
        now = time.time()
        matches = []
        # Newest first, as Twilio lists: by date sent (one not yet sent, by its creation).
        stored = sorted(reversed(list(self.state.messages.values())), key=lambda m: -self._listed_at(m, now))
        for message in stored:
            if to and message["to"] != to:
                continue
            resource = self._resource(message, now)
            if from_ and resource["from"] != from_:
                continue
            if filters:
                _, sent_at = self._status_now(message, now)
                if sent_at is None:
                    continue
                # To the second, as the date is shown ("Thu, 24 Aug 2023 05:01:45 +0000").
                sent = datetime.fromtimestamp(math.floor(sent_at), UTC)
                day = sent.replace(hour=0, minute=0, second=0, microsecond=0)
                if "DateSent" in filters and day != filters["DateSent"]:
                    continue
                if "DateSent>" in filters and sent < filters["DateSent>"]:
                    continue
                if "DateSent<" in filters and sent > filters["DateSent<"]:
                    continue
            matches.append(resource)
        start = page * page_size
        chunk = matches[start : start + page_size]
        base_params = [(k, v) for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")]

        def page_uri(number: int) -> str:
            params = [*base_params, ("PageSize", str(page_size)), ("Page", str(number))]
            if number:
                params.append(("PageToken", f"PA{number}"))
            return f"{request.path}?{urlencode(params)}"

        body = {
            "messages": chunk,
            "page": page,
            "page_size": page_size,
            "start": start,
            "end": start + max(len(chunk) - 1, 0),
            "uri": page_uri(page),
            "first_page_uri": page_uri(0),
            "next_page_uri": page_uri(page + 1) if start + page_size < len(matches) else None,
            "previous_page_uri": page_uri(page - 1) if page > 0 else None,
        }
        return web.Response(text=json.dumps(body), content_type=_JSON)
