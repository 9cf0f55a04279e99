"""The SMS channel's HTTP client under the twilio SDK sends what the SDK's own client sends.

``_PooledAsyncHttpClient`` replaces the stock ``AsyncTwilioHttpClient.request`` with a
leaner one (docs/benchmarks.md). Both are driven here by the real SDK against a loopback
server that keeps each request as it arrived: method, path and query, headers and the
body's bytes must be the same, for a create (a form) and a list (a query string).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from alerts.channels.twilio import _last_response, _PooledAsyncHttpClient
from tests.fixtures.loopback_http import Answer, Request, serve

ACCOUNT_SID = "AC" + "7" * 32
AUTH_TOKEN = "transport-test-token"
SERVICE_SID = "MG" + "2" * 32
MESSAGE = {
    "sid": "SM" + "3" * 32,
    "account_sid": ACCOUNT_SID,
    "status": "accepted",
    "to": "+93700000001",
    "body": "x",
    "date_created": "Tue, 17 Aug 2021 06:00:00 +0000",
}


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Recorder:
    url: str
    received: list[Received] = field(default_factory=list)
    status: int = 201
    answer: dict[str, Any] = field(default_factory=lambda: dict(MESSAGE))
    extra_headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """A loopback HTTP server that keeps every request and answers as told."""
    rec: Recorder

    def answer(request: Request) -> Answer:
        headers = {name.lower(): value for name, value in request.headers.items()}
        rec.received.append(Received(request.method, request.path, headers, request.body))
        if rec.delay:
            time.sleep(rec.delay)
        return rec.status, {"Content-Type": "application/json", **rec.extra_headers}, json.dumps(rec.answer).encode()

    with serve(answer) as url:
        rec = Recorder(url=url)
        yield rec


def _asyncio_run(main: Any) -> Any:
    """``asyncio.run(main())`` in a thread of its own: a test run earlier in this process
    (a browser test's Playwright) may have left an event loop running in this one."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(main())).result()


def _run(make_http: Any, base_url: str, call: Any) -> Any:
    """Run ``call(messages_resource)`` on a fresh event loop with the client ``make_http()``."""

    async def main() -> Any:
        http = make_http()
        try:
            client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http)
            client.api.base_url = base_url
            return await call(client.api.v2010.accounts(ACCOUNT_SID).messages)
        finally:
            await http.close()

    return _asyncio_run(main)


def stock() -> AsyncTwilioHttpClient:
    return AsyncTwilioHttpClient(pool_connections=True)


def ours() -> _PooledAsyncHttpClient:
    return _PooledAsyncHttpClient(timeout=5, connections=4)


def _create(resource: Any) -> Any:
    # Dari, an ampersand, a plus and an equals sign: everything a form must escape.
    return resource.create_async(
        to="+93700000001",
        body="هشدار: سطح ۴ & leave now + take papers = passport. Reply SAFE",
        messaging_service_sid=SERVICE_SID,
        status_callback="http://127.0.0.1:8000/hooks/twilio/status/?ref=delivery:42",
    )


def _same_request(a: Received, b: Received) -> None:
    assert (a.method, a.path, a.body) == (b.method, b.path, b.body)
    assert a.headers == b.headers


def test_a_message_is_sent_byte_for_byte_as_the_sdks_own_client_sends_it(recorder):
    _run(stock, recorder.url, _create)
    instance = _run(ours, recorder.url, _create)

    theirs, mine = recorder.received
    _same_request(theirs, mine)
    assert mine.headers["content-type"] == "application/x-www-form-urlencoded"
    assert mine.headers["authorization"].startswith("Basic ")
    assert "To=%2B93700000001" in mine.body.decode()
    assert instance.sid == MESSAGE["sid"]  # and the SDK reads the answer as before


def test_a_list_sends_the_same_query_string(recorder):
    recorder.status = 200
    recorder.answer = {"messages": [MESSAGE], "next_page_uri": None, "page_size": 20}

    def listing(resource: Any) -> Any:
        return resource.list_async(to="+93700000001", page_size=20)

    _run(stock, recorder.url, listing)
    found = _run(ours, recorder.url, listing)

    theirs, mine = recorder.received
    _same_request(theirs, mine)
    assert mine.method == "GET" and "To=%2B93700000001" in mine.path and not mine.body
    assert [m.sid for m in found] == [MESSAGE["sid"]]


def test_an_error_answer_raises_as_before_and_its_headers_are_kept(recorder):
    recorder.status = 429
    recorder.answer = {"code": 20429, "message": "Too Many Requests", "status": 429}
    recorder.extra_headers = {"Retry-After": "7"}

    async def create_and_keep(resource: Any) -> Any:
        token = _last_response.set(None)
        try:
            with pytest.raises(TwilioRestException) as raised:
                await _create(resource)
            return raised.value, _last_response.get()
        finally:
            _last_response.reset(token)

    error, answer = _run(ours, recorder.url, create_and_keep)
    assert (error.status, error.code) == (429, 20429)
    assert answer is not None and answer.headers["Retry-After"] == "7"


def test_the_clients_timeout_holds_when_the_sdk_passes_none(recorder):
    recorder.delay = 2.0

    async def create(resource: Any) -> Any:
        with pytest.raises(TimeoutError):
            await _create(resource)

    # Without a limit the answer would come after 2 s and nothing would be raised.
    _run(lambda: _PooledAsyncHttpClient(timeout=0.3, connections=1), recorder.url, create)


def test_a_timeout_passed_per_request_wins(recorder):
    recorder.delay = 2.0

    async def main() -> None:
        http = _PooledAsyncHttpClient(timeout=30, connections=1)
        try:
            with pytest.raises(TimeoutError):
                await http.request("GET", recorder.url + "/x", timeout=0.3)
            with pytest.raises(ValueError):
                await http.request("GET", recorder.url + "/x", timeout=0)
        finally:
            await http.close()

    _asyncio_run(main)
