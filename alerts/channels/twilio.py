"""SMS through Twilio's Programmable Messaging API, with the official ``twilio`` SDK.

One request per message (Twilio has no batch send), many in flight at once: the API
answers in 100-500 ms, so ``send_batch`` runs up to ``SMS_CONCURRENCY`` requests
concurrently on the SDK's asyncio HTTP client (aiohttp), on one event loop thread per
process whose connection pool outlives each batch. Twilio's error codes are mapped to
permanent or transient ``ChannelError`` here.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextvars
import email.utils
import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from alerts.channels.base import BatchFirstChannel, ChannelError, OutgoingMessage, RateLimiter, SendResult
from embassy.logging import mask_phone

logger = logging.getLogger(__name__)

# The SDK logs request URLs and headers at INFO; whatever the deployment's logging says,
# those lines never leave this logger.
_sdk_logger = logging.getLogger("alerts.channels.twilio.sdk")
_sdk_logger.setLevel(logging.WARNING)

# --- Twilio error codes ------------------------------------------------------------------
INVALID_NUMBER = 21211  # 21211: invalid 'To' phone number -> permanent
OPTED_OUT = 21610  # 21610: the recipient replied STOP -> permanent, and an opt-out
NOT_MOBILE = 21614  # 21614: 'To' is not a mobile number (landline) -> permanent
TOO_MANY_REQUESTS = 20429  # 20429: too many requests -> transient, always safe to retry
AUTHENTICATE = 20003  # 20003: credentials refused -> our account, not the message's: the channel pauses
PERMANENT_CODES = {
    INVALID_NUMBER: "invalid number",
    OPTED_OUT: "recipient opted out",
    NOT_MOBILE: "not a mobile number",
}

_FORM = "application/x-www-form-urlencoded"  # what aiohttp's FormData says of a plain form in UTF-8

# The last HTTP answer seen by the current task, for headers the SDK's exception drops.
_last_response: contextvars.ContextVar[Response | None] = contextvars.ContextVar("twilio_last_response", default=None)


class _PooledAsyncHttpClient(AsyncTwilioHttpClient):
    """The SDK's aiohttp client with a bounded connection pool, a total timeout, and a
    lean request path.

    The SDK builds every request (resource, parameters, serialisation, headers, the
    answer's parsing and errors) and hands it to ``request`` below, its documented seam
    for a custom HTTP client. What the stock ``request`` adds and this one leaves out:

    - it ignores its own ``timeout`` unless one is passed per request (no limit at all);
    - it keeps no note of the answer's headers when the SDK raises on an error status
      (where ``Retry-After`` is): this one leaves the answer in ``_last_response``;
    - it formats a log line per request and per header, whatever the logger's level;
    - it builds a test-only copy of each request;
    - it hands aiohttp the form as a dict, which aiohttp wraps in a ``FormData`` that
      makes a multipart writer (a random boundary) before it finds the form is plain.
      Here the form is encoded once, as aiohttp would encode it (the same bytes and the
      same ``Content-Type``).

    Together those were about a fifth of the CPU a bare SDK loop spends per SMS
    (docs/benchmarks.md); the bytes on the wire are the same
    (tests/providers/test_twilio_transport.py).
    """

    def __init__(self, *, timeout: float, connections: int) -> None:
        super().__init__(pool_connections=False, timeout=timeout, logger=_sdk_logger)
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections, limit_per_host=connections),
            timeout=aiohttp.ClientTimeout(total=timeout),
        )
        self._auth: tuple[str, str] | None = None  # the credentials _auth_header was made of
        self._auth_header = ""

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        if timeout is not None and timeout <= 0:
            raise ValueError(timeout)
        sent = dict(headers) if headers else {}
        if auth is not None:
            # aiohttp deprecates its ``auth=`` argument; the header is the same thing.
            if auth != self._auth:
                self._auth, self._auth_header = auth, aiohttp.encode_basic_auth(auth[0], auth[1])
            sent["Authorization"] = self._auth_header
        body: bytes | None = None
        if data:
            body = urlencode(data, doseq=True).encode()
            sent["Content-Type"] = _FORM
        options: dict[str, Any] = {"params": params or None, "data": body, "headers": sent}
        if timeout is not None:  # else the session's total timeout
            options["timeout"] = aiohttp.ClientTimeout(total=timeout)
        async with self.session.request(method.upper(), url, allow_redirects=allow_redirects, **options) as answer:
            response = Response(answer.status, await answer.text(), answer.headers)
        _last_response.set(response)
        return response


def _retry_after(response: Response | None) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds or an HTTP date), if there is one."""
    if response is None or not response.headers:
        return None
    raw = response.headers.get("Retry-After")
    if not raw:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def map_twilio_error(exc: TwilioRestException, response: Response | None = None) -> ChannelError:
    """The ``ChannelError`` for an error answer of the Messages API."""
    status = int(exc.status or 0)
    try:
        code = int(exc.code) if exc.code is not None else None
    except (TypeError, ValueError):
        code = None
    code_text = str(code) if code is not None else str(status)
    if code in PERMANENT_CODES:
        return ChannelError(
            f"twilio {code}: {PERMANENT_CODES[code]}", permanent=True, code=code_text, opted_out=code == OPTED_OUT
        )
    if code == TOO_MANY_REQUESTS or status == 429:
        return ChannelError(
            f"twilio {code_text}: too many requests",
            permanent=False,
            code=code_text,
            retry_after=_retry_after(response),
        )
    if status >= 500:
        return ChannelError(f"twilio HTTP {status}: server error", permanent=False, code=code_text, outage=True)
    if code == AUTHENTICATE or status in (401, 403):
        # Our account, not the message: the channel pauses (alerts.services.pauses).
        return ChannelError(f"twilio {code_text}: credentials refused", permanent=False, code=code_text, account=True)
    # Any other refusal (missing body, unknown parameter, ...) will be refused again.
    return ChannelError(f"twilio {code_text}: refused (HTTP {status})", permanent=True, code=code_text)


def map_list_error(exc: Exception, what: str = "list of messages") -> ChannelError:
    """A failed read of the Messages list (the synchronous SDK client, requests) as the
    channel's error, as a send's would be: a server error is an ``outage``, a timeout or
    a failed connection ``unreachable`` (both count towards pausing the channel,
    ``alerts.services.pauses``); our credentials refused are ``account``; anything else
    counts towards nothing."""
    import requests

    if isinstance(exc, TwilioRestException):
        return map_twilio_error(exc)
    answer = exc.args[1] if isinstance(exc, TwilioException) and len(exc.args) > 1 else None
    if isinstance(getattr(answer, "status_code", None), int):
        # A page the API refused: the SDK raises "Unable to fetch page" with the answer
        # (not a TwilioRestException); read Twilio's error code from its body.
        try:
            code = json.loads(answer.text).get("code")
        except (TypeError, ValueError, AttributeError):
            code = None
        return map_twilio_error(TwilioRestException(answer.status_code, "Messages.json", "", code=code))
    if isinstance(exc, requests.Timeout):
        return ChannelError(f"twilio: {what} timed out", permanent=False, code="timeout", unreachable=True)
    if isinstance(exc, requests.ConnectionError):
        return ChannelError(
            f"twilio: {what}, connection failed ({type(exc).__name__})",
            permanent=False,
            code="connection",
            unreachable=True,
        )
    return ChannelError(
        f"twilio: {what} unreadable ({type(exc).__name__})", permanent=False, code="answer", unreachable=True
    )


class _SenderLoop:
    """One event loop thread per process, where every SMS of this process is sent.

    Its senders (one ``_SenderPool`` per account, API host, timeout and concurrency) live
    as long as the process, so connections are kept alive from one batch and one task to
    the next, and batches submitted one after another share one concurrency limit: the
    next batch's requests start as soon as the previous batch's finish, without a gap.
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.pools: dict[tuple[Any, ...], _SenderPool] = {}
        self.thread = threading.Thread(target=self._run, name="twilio-sender", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()


class _Batch:
    """One ``submit_batch``: its messages, taken in order by the pool's workers, and the
    future completed with every result (in the messages' order) when the last one lands."""

    __slots__ = ("channel", "messages", "limiter", "acquire", "results", "taken", "pending", "future", "cancelled")

    def __init__(
        self,
        channel: TwilioSMSChannel,
        messages: list[OutgoingMessage],
        limiter: RateLimiter | None,
        future: concurrent.futures.Future[list[SendResult | ChannelError]],
    ) -> None:
        self.channel = channel
        self.messages = messages
        self.limiter = limiter
        self.acquire = getattr(limiter, "acquire_async", None)
        self.results: list[Any] = [None] * len(messages)
        self.taken = 0  # messages handed to a worker so far
        self.pending = len(messages)  # results still to land
        self.future = future
        self.cancelled = False  # the caller cancelled the future: send no more of it

    def land(self, index: int, result: SendResult | ChannelError) -> None:
        self.results[index] = result
        self.pending -= 1
        if not self.pending:
            try:
                self.future.set_result(self.results)
            except concurrent.futures.InvalidStateError:  # cancelled by the caller
                pass


class _SenderPool:
    """``concurrency`` worker tasks sharing one SDK client: each takes the next message of
    the oldest batch, waits for the limiter, sends it, and takes the next. At most
    ``concurrency`` requests are in flight whatever the number of batches waiting.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, resource: Any, http_client: Any, concurrency: int) -> None:
        self.loop = loop
        self.resource = resource
        self.http_client = http_client
        self.batches: collections.deque[_Batch] = collections.deque()
        self.idle: collections.deque[asyncio.Future[None]] = collections.deque()
        self.workers = [loop.create_task(self._work()) for _ in range(concurrency)]

    def add(self, batch: _Batch) -> None:
        """Queue ``batch`` and wake as many idle workers as it has messages (on the loop)."""
        self.batches.append(batch)
        wake = len(batch.messages)
        idle = self.idle
        while wake and idle:
            waiter = idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                wake -= 1

    async def _work(self) -> None:
        batches = self.batches
        resource = self.resource
        while True:
            if not batches:
                waiter = self.loop.create_future()
                self.idle.append(waiter)
                await waiter
                continue
            batch = batches[0]
            if batch.cancelled:
                batches.popleft()
                continue
            index = batch.taken
            batch.taken = index + 1
            if batch.taken == len(batch.messages):
                batches.popleft()
            message = batch.messages[index]
            try:
                if batch.limiter is not None:
                    if batch.acquire is not None:
                        await batch.acquire()
                    else:
                        await asyncio.to_thread(batch.limiter.acquire)
                result = await batch.channel._send_one(resource, message)
            except asyncio.CancelledError:
                batch.land(index, ChannelError("not sent", permanent=False))
                raise
            except Exception as exc:  # the limiter's, or a fault of ours: this message only
                logger.warning("twilio: %s not sent (%s)", message.reference or "-", type(exc).__name__)
                result = ChannelError("not sent", permanent=False)
            batch.land(index, result)


_sender_loop: _SenderLoop | None = None
_sender_loop_lock = threading.Lock()


def _loop() -> _SenderLoop:
    """This process's sender loop, started on first use (and again in a forked child)."""
    global _sender_loop
    with _sender_loop_lock:
        if _sender_loop is None or _sender_loop.pid != os.getpid() or not _sender_loop.thread.is_alive():
            _sender_loop = _SenderLoop()
        return _sender_loop


@dataclass(frozen=True)
class ProviderMessage:
    """A message as Twilio holds it, for reconciling a send whose outcome was lost."""

    sid: str
    status: str
    body: str
    date_created: datetime | None


class TwilioSMSChannel(BatchFirstChannel):
    """SMS through Twilio. Settings: ``TWILIO_*``, ``PROVIDER_TIMEOUT_SECONDS``, ``SMS_CONCURRENCY``."""

    kind = "sms"

    def __init__(self, *, concurrency: int | None = None, timeout: float | None = None) -> None:
        self.account_sid = settings.TWILIO_ACCOUNT_SID
        self.auth_token = settings.TWILIO_AUTH_TOKEN
        if not self.account_sid or not self.auth_token:
            raise ImproperlyConfigured("SMS_BACKEND=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
        self.messaging_service_sid = settings.TWILIO_MESSAGING_SERVICE_SID
        self.from_number = settings.TWILIO_FROM_NUMBER
        if not self.messaging_service_sid and not self.from_number:
            raise ImproperlyConfigured("SMS_BACKEND=twilio needs TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER")
        self.base_url = settings.TWILIO_API_BASE_URL.rstrip("/")
        self.timeout = float(timeout if timeout is not None else settings.PROVIDER_TIMEOUT_SECONDS)
        self.concurrency = int(concurrency if concurrency is not None else settings.SMS_CONCURRENCY)
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")

    def status_callback_url(self, message: OutgoingMessage) -> str:
        """Where Twilio reports this message's status; names the message's reference."""
        url = settings.PUBLIC_BASE_URL + settings.TWILIO_STATUS_CALLBACK_PATH
        if message.reference:
            # "delivery:42" stays readable; anything unusual in a reference is escaped.
            url += "?ref=" + quote(message.reference, safe=":")
        return url

    def _params(self, message: OutgoingMessage) -> dict[str, Any]:
        params: dict[str, Any] = {
            "to": message.to,
            "body": message.body,
            "status_callback": self.status_callback_url(message),
        }
        if self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        else:
            params["from_"] = self.from_number
        return params

    # --- the contract ----------------------------------------------------------------------
    def send_batch(
        self, messages: Sequence[OutgoingMessage], limiter: RateLimiter | None = None
    ) -> list[SendResult | ChannelError]:
        """Send each message, up to ``concurrency`` at a time; one result per message, in order.

        When ``limiter`` is given it is asked before every request: ``acquire_async()``
        when it has one (waits without holding up the other requests), else the blocking
        ``acquire()`` in a thread. Never raises ChannelError: failures come back in place.
        """
        if not messages:
            return []
        return self.submit_batch(messages, limiter).result()

    def submit_batch(
        self, messages: Sequence[OutgoingMessage], limiter: RateLimiter | None = None
    ) -> concurrent.futures.Future[list[SendResult | ChannelError]]:
        """``send_batch`` without waiting: the future of its results.

        The batch runs on this process's sender loop, where batches submitted before it
        may still be in flight: together they never have more than ``concurrency``
        requests in flight, and the connections stay open for the next batch.
        Cancelling the future sends none of the messages not yet started.
        """
        loop = _loop()
        if threading.current_thread() is loop.thread:
            raise RuntimeError("submit_batch cannot wait on its own event loop")
        future: concurrent.futures.Future[list[SendResult | ChannelError]] = concurrent.futures.Future()
        if not messages:
            future.set_result([])
            return future
        batch = _Batch(self, list(messages), limiter, future)
        loop.loop.call_soon_threadsafe(self._enqueue, loop, batch)

        def cancelled(done: concurrent.futures.Future[Any]) -> None:
            if done.cancelled():
                loop.loop.call_soon_threadsafe(setattr, batch, "cancelled", True)

        future.add_done_callback(cancelled)
        return future

    def _enqueue(self, loop: _SenderLoop, batch: _Batch) -> None:
        """Hand ``batch`` to the pool of this channel's client (made on first use; on the loop)."""
        try:
            key = (self.account_sid, self.auth_token, self.base_url, self.timeout, self.concurrency)
            pool = loop.pools.get(key)
            if pool is None:
                http_client = _PooledAsyncHttpClient(timeout=self.timeout, connections=self.concurrency)
                client = Client(self.account_sid, self.auth_token, http_client=http_client)
                client.api.base_url = self.base_url  # the SDK's own seam for the API's host
                resource = client.api.v2010.accounts(self.account_sid).messages
                pool = loop.pools[key] = _SenderPool(loop.loop, resource, http_client, self.concurrency)
            pool.add(batch)
        except Exception as exc:
            try:
                batch.future.set_exception(exc)
            except concurrent.futures.InvalidStateError:  # cancelled by the caller
                pass

    async def _send_one(self, resource: Any, message: OutgoingMessage) -> SendResult | ChannelError:
        if not message.to:
            return ChannelError("no address", permanent=True, code="no-address")
        # Workers are long-lived tasks: each send starts with no answer seen and leaves none.
        token = _last_response.set(None)
        try:
            instance = await resource.create_async(**self._params(message))
        except TwilioRestException as exc:
            error = map_twilio_error(exc, _last_response.get())
        except TimeoutError:
            # Unreachable: many in a row pause the channel (alerts.services.pauses).
            error = ChannelError(
                f"twilio: no answer within {self.timeout:g}s", permanent=False, code="timeout", unreachable=True
            )
        except aiohttp.ClientError as exc:
            # Refused, reset or dropped: unreachable as a timeout is (and as unclear).
            error = ChannelError(
                f"twilio: connection failed ({type(exc).__name__})",
                permanent=False,
                code="connection",
                unreachable=True,
            )
        except (TwilioException, ValueError) as exc:
            # An answer the SDK could not read (not JSON, cut short): the message may or may
            # not exist; a retry is reconciled by the pipeline's look-up.
            error = ChannelError(f"twilio: unreadable answer ({type(exc).__name__})", permanent=False, code="answer")
        else:
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "twilio accepted %s for %s (%s)", instance.sid, message.reference or "-", mask_phone(message.to)
                )
            return SendResult(provider_message_id=instance.sid)
        finally:
            _last_response.reset(token)
        logger.info(
            "twilio refused %s (%s): %s, %s",
            message.reference or "-",
            mask_phone(message.to),
            error.message,
            "permanent" if error.permanent else "transient",
        )
        return error

    # --- look-ups ----------------------------------------------------------------------------
    def messages_to(self, to: str, since: datetime) -> list[ProviderMessage]:
        """Messages Twilio holds for ``to`` created at or after ``since``, newest first.

        For reconciling a send whose worker died between the request and recording its
        answer: if a message with the same body is there, it was sent. Raises
        ChannelError (transient) when Twilio cannot be asked.
        """
        client = Client(
            self.account_sid, self.auth_token, http_client=TwilioHttpClient(timeout=self.timeout, logger=_sdk_logger)
        )
        client.api.base_url = self.base_url
        found: list[ProviderMessage] = []
        try:
            # Twilio lists newest first; a queued message has no date_sent yet, so filter
            # on the number only and stop at the first one older than ``since``.
            for item in client.api.v2010.accounts(self.account_sid).messages.stream(to=to, page_size=50):
                if item.date_created is not None and item.date_created < since:
                    break
                found.append(ProviderMessage(item.sid, item.status, item.body or "", item.date_created))
        except (OSError, TwilioException, ValueError) as exc:  # requests' errors are OSErrors
            # A server error, a timeout or a failed connection counts towards the
            # channel's outage, as a send's does (the sweep's and a claim's look-ups).
            raise map_list_error(exc, "look-up") from None
        return found
