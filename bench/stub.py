"""The provider stub as the benchmark runs it: ``python -m bench.stub --port 0``.

The project's ``ProviderStub`` unchanged on the wire, with two economies so that its own
memory does not grow with a million messages: each request is remembered by the few
fields the benchmark reads (api, to, status, batch size, times, requests in flight), and
Twilio messages are not stored for later look-ups (the benchmark never fetches them).
No callbacks are sent. Prints one JSON line ``{"url": ...}`` once it listens.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from alerts.providerstub.callbacks import CallbackSender
from alerts.providerstub.server import ProviderStub
from alerts.providerstub.state import StubConfig, StubState

KEPT = ("api", "to", "status", "batch_size", "received_at", "in_flight_at_start")


class _Forgetful(dict):  # type: ignore[type-arg]
    """A dict that stores nothing (Twilio messages by SID, never read back here)."""

    def __setitem__(self, key: Any, value: Any) -> None:
        return None


class SlimState(StubState):
    def reset(self) -> None:
        super().reset()
        self.messages = _Forgetful()

    def record(self, entry: dict[str, Any], *args: Any) -> None:
        super().record({name: entry.get(name) for name in KEPT}, *args)


def build(port: int, latency_ms: float) -> ProviderStub:
    config = StubConfig(latency_ms=latency_ms, callback_base=None)
    stub = ProviderStub(port=port, config=config, backlog=4096)
    stub.state = SlimState(config)
    stub.callback_sender = CallbackSender(stub.state, stub.key)
    return stub


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    stub = build(args.port, args.latency_ms)
    stub.serve_forever(on_ready=lambda: print(json.dumps({"url": stub.url}), flush=True))


if __name__ == "__main__":
    main()
