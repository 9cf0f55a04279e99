"""What the provider stub remembers and how it is told to behave.

Everything here is shared between the stub's event-loop thread and whoever drives it
(a test in another thread, or the ``/_stub/`` control API). Lists only ever grow by
``append`` (atomic under the GIL) and configuration is replaced as a whole, so the hot
request path takes a lock only when a failure rule has to be counted down.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

# Twilio error code -> (HTTP status, message), as the real API answers them.
TWILIO_ERRORS: dict[int, tuple[int, str]] = {
    20001: (400, "Unknown parameter"),
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "An internal server error has occurred"),
    20503: (503, "Service is unavailable. Please try again"),
    21211: (400, "Invalid 'To' Phone Number"),
    21408: (400, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number"),
    21602: (400, "Message body is required."),
    21603: (400, "The 'From' number is required."),
    21604: (400, "A 'To' phone number is required."),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21614: (400, "'To' number is not a valid mobile number"),
    21617: (400, "The concatenated message body exceeds the 1600 character limit."),
}
# HTTP status -> the Twilio code a failure of that status carries when none was named.
TWILIO_CODE_FOR_STATUS = {400: 20001, 401: 20003, 404: 20404, 429: 20429, 500: 20500, 502: 20500, 503: 20503}
# Delivery failures reported by status callback (never by the API call itself).
TWILIO_DELIVERY_ERRORS = {
    30003: "Unreachable destination handset",
    30004: "Message blocked",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
    30008: "Unknown error",
}
SENDGRID_FINAL_EVENTS = ("delivered", "bounce", "dropped", "deferred")


@dataclass(frozen=True)
class StubConfig:
    """How the stub behaves. Replace it with ``ProviderStub.configure(**changes)``."""

    latency_ms: float = 0.0  # added to every provider request (not to /_stub/)
    latency_jitter_ms: float = 0.0  # plus a uniform random 0..jitter
    failure_rate: float = 0.0  # share of provider requests that fail at random
    failure_http_status: int = 500  # ... with this status
    failure_twilio_code: int | None = None  # ... and this Twilio code (default: from the status)
    retry_after: int | None = None  # Retry-After header (seconds) on 429 answers
    # Share of provider requests the stub takes (stored, recorded, called back as an
    # accepted one) and then drops the connection without answering: a lost answer.
    lose_answer_rate: float = 0.0
    # Where callbacks go. None: no callbacks at all. Twilio status callbacks are POSTed to
    # callback_base + the path and query of the message's StatusCallback; SendGrid events
    # to callback_base + sendgrid_events_path.
    callback_base: str | None = None
    sendgrid_events_path: str = "/hooks/sendgrid/events/"
    sent_after_ms: float = 50.0  # accepted -> sent (Twilio) / processed (SendGrid)
    final_after_ms: float = 150.0  # accepted -> delivered or the configured failure
    sms_final_status: str = "delivered"  # or "undelivered" / "failed"
    sms_error_code: int | None = None  # 30003..30008 with an undelivered/failed status
    # Per destination: {"+4479...": {"status": "undelivered", "error_code": 30005}}
    sms_outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    email_final_event: str = "delivered"  # or "bounce" / "dropped" / "deferred"
    email_outcomes: dict[str, str] = field(default_factory=dict)  # address -> final event
    messaging_service_from: str = "+15005550006"  # the sender a Messaging Service picks
    # False: keep only counts of requests (long benchmarks); messages stay available to GET.
    keep_records: bool = True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in fields(cls)}


@dataclass
class FailureRule:
    """The next ``remaining`` matching requests fail (``remaining=None``: until reset).

    ``api`` is "sms" or "email" (sending), or "sms-list" (listing Twilio's messages, to
    which only these rules apply, never ``failure_rate``); ``to`` limits the rule to requests for these
    destinations (any recipient of an email batch). Twilio answers carry
    ``twilio_code`` (its HTTP status from the code unless ``http_status`` is given).
    """

    api: str = "sms"
    remaining: int | None = 1
    twilio_code: int | None = None
    http_status: int | None = None
    to: list[str] | None = None
    retry_after: int | None = None
    latency_ms: float | None = None  # answer this late (to provoke client timeouts)
    # Take the message as an accepted one, then drop the connection without answering
    # (no twilio_code or http_status needed): the provider has it, the client never hears.
    lose_answer: bool = False

    def matches(self, api: str, destinations: list[str]) -> bool:
        if self.api != api or self.remaining == 0:
            return False
        return self.to is None or any(d in self.to for d in destinations)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Failure:
    """A failure the stub decided to answer with."""

    http_status: int
    twilio_code: int | None = None
    retry_after: int | None = None
    latency_ms: float | None = None
    lose_answer: bool = False  # accepted, then the connection dropped without an answer


class StubState:
    """Records, counters, stored messages and configuration of one stub."""

    def __init__(self, config: StubConfig | None = None) -> None:
        self._initial = config or StubConfig()
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.config = self._initial
            self.records: list[dict[str, Any]] = []
            self.callbacks: list[dict[str, Any]] = []
            self.rules: list[FailureRule] = []
            self.messages: dict[str, dict[str, Any]] = {}  # Twilio messages by SID
            self.counts = {"requests": 0, "sms_requests": 0, "email_requests": 0, "failed_requests": 0}
            self.in_flight = 0
            self.in_flight_peak = 0
            self.started_at = time.time()
            self.generation = getattr(self, "generation", 0) + 1  # late callbacks of old runs are dropped

    # --- configuration ------------------------------------------------------------
    def configure(self, **changes: Any) -> StubConfig:
        unknown = set(changes) - StubConfig.field_names()
        if unknown:
            raise ValueError(f"unknown stub settings: {', '.join(sorted(unknown))}")
        with self._lock:
            self.config = replace(self.config, **changes)
            return self.config

    def add_rule(self, rule: FailureRule) -> None:
        if rule.api not in ("sms", "email", "sms-list"):
            raise ValueError("api must be 'sms', 'email' or 'sms-list'")
        if rule.twilio_code is None and rule.http_status is None and not rule.lose_answer:
            raise ValueError("a failure needs a twilio_code, an http_status or lose_answer")
        with self._lock:
            self.rules.append(rule)

    # --- hot path -------------------------------------------------------------------
    def enter(self) -> int:
        """A provider request started (event-loop thread only); returns the generation."""
        self.in_flight += 1
        if self.in_flight > self.in_flight_peak:
            self.in_flight_peak = self.in_flight
        return self.generation

    def leave(self, generation: int) -> None:
        # A request that outlived a reset is not counted against the new run.
        if generation == self.generation:
            self.in_flight -= 1

    def pick_failure(self, api: str, destinations: list[str], *, random_failures: bool = True) -> Failure | None:
        """Return the failure this request must answer with, or None to succeed
        (``random_failures=False``: only a rule's, never ``failure_rate``'s)."""
        if self.rules:
            with self._lock:
                for rule in self.rules:
                    if rule.matches(api, destinations):
                        if rule.remaining is not None:
                            rule.remaining -= 1
                        if rule.lose_answer:
                            return Failure(0, latency_ms=rule.latency_ms, lose_answer=True)
                        status = rule.http_status
                        if status is None:
                            status = TWILIO_ERRORS.get(rule.twilio_code or 0, (400, ""))[0]
                        return Failure(status, rule.twilio_code, rule.retry_after, rule.latency_ms)
        config = self.config
        if not random_failures:
            return None
        if config.failure_rate and random.random() < config.failure_rate:
            return Failure(config.failure_http_status, config.failure_twilio_code, config.retry_after)
        if config.lose_answer_rate and random.random() < config.lose_answer_rate:
            return Failure(0, lose_answer=True)
        return None

    def record(self, entry: dict[str, Any], generation: int) -> None:
        if generation != self.generation:
            return
        counts = self.counts
        counts["requests"] += 1
        counts["sms_requests" if entry["api"] == "sms" else "email_requests"] += 1
        if entry["status"] >= 400:
            counts["failed_requests"] += 1
        if self.config.keep_records:
            self.records.append(entry)

    def record_callback(self, entry: dict[str, Any], generation: int) -> None:
        if generation == self.generation:
            self.callbacks.append(entry)

    # --- reading ----------------------------------------------------------------------
    def received(self, api: str | None = None) -> list[dict[str, Any]]:
        return [r for r in list(self.records) if api is None or r["api"] == api]

    def stats(self) -> dict[str, Any]:
        return {
            **self.counts,
            "in_flight": self.in_flight,
            "in_flight_peak": self.in_flight_peak,
            "callbacks": len(self.callbacks),
            "messages_stored": len(self.messages),
        }

    def wait_for(self, predicate: Any, timeout: float) -> bool:
        """Poll until ``predicate(self)`` is true or ``timeout`` seconds pass.

        Polling keeps the request path free of notifications; tests wait rarely.
        """
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True
