"""Helpers for the provider tests: a loopback receiver for the stub's callbacks."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


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
    receiver: CallbackReceiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the http.server API)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.received.append(ReceivedCallback(self.path, dict(self.headers.items()), body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = CallbackReceiver(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
