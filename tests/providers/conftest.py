"""Helpers for the provider tests: a loopback receiver for the stub's callbacks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.fixtures.loopback_http import Answer, Request, serve


@dataclass
class ReceivedCallback:
    path: str  # path and query, as requested
    headers: dict[str, str]
    body: bytes


@dataclass
class CallbackReceiver:
    url: str
    received: list[ReceivedCallback] = field(default_factory=list)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedCallback]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.received)


@pytest.fixture
def callback_receiver() -> Iterator[CallbackReceiver]:
    """An HTTP server on loopback that answers 200 to every POST and keeps what it got."""
    received: list[ReceivedCallback] = []

    def answer(request: Request) -> Answer:
        received.append(ReceivedCallback(request.path, request.headers, request.body))
        return 200, {}, b""

    with serve(answer) as url:
        yield CallbackReceiver(url=url, received=received)
