"""What every fake provider endpoint does around its own checks: the request's record,
the configured latency and failures, and keeping the record once answered."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from alerts.providerstub.state import Failure, StubState


def request_record(request: web.Request, api: str, started: float, received_at: float, **fields: Any) -> dict[str, Any]:
    """The record of one provider request: what the tests and the benchmark read back."""
    record: dict[str, Any] = {
        "api": api,
        "method": request.method,
        "path": request.path,
        "received_at": received_at,
        "started": started,
        "headers": dict(request.headers),
        "to": [],
        "body": "",
        "batch_size": 0,
        "callback_url": None,
    }
    record.update(fields)
    record["peer"] = request.transport.get_extra_info("peername") if request.transport else None
    return record


async def answer(
    request: web.Request,
    state: StubState,
    record: dict[str, Any],
    generation: int,
    refused: web.Response | None,
    failed: Callable[[Failure], web.Response],
    accepted: Callable[[], web.Response],
) -> web.Response:
    """Answer a request the endpoint has checked (``refused``: its own error answer, if any).

    Waits the configured latency (or a failure rule's), then answers with the refusal,
    the failure the next matching rule asks for, or ``accepted()``; records the request
    with its status either way. A lost answer (``lose_answer_rate``, a ``lose_answer``
    rule) is accepted and recorded as any other (``answer_lost`` set), then the
    connection is dropped unanswered: the client sees it closed mid-request.
    """
    failure = state.pick_failure(record["api"], record["to"]) if refused is None else None
    config = state.config
    delay_ms = config.latency_ms
    if config.latency_jitter_ms:
        delay_ms += secrets.randbelow(int(config.latency_jitter_ms) + 1)
    if failure is not None and failure.latency_ms is not None:
        delay_ms = failure.latency_ms
    if delay_ms:
        await asyncio.sleep(delay_ms / 1000)
    if refused is not None:
        response = refused
    elif failure is not None and not failure.lose_answer:
        response = failed(failure)
    else:
        response = accepted()
    record["status"] = response.status
    record["finished"] = time.monotonic()
    if failure is not None and failure.lose_answer:
        record["answer_lost"] = True
        state.record(record, generation)
        if request.transport is not None:
            request.transport.abort()  # closed at once, nothing written
        raise asyncio.CancelledError  # nothing more to do for this request: no answer
    state.record(record, generation)
    return response
