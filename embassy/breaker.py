"""Remembering, in one process, that a service it needs just failed.

Redis is the cache (registration rate limits) and the Celery broker. When it is down a
citizen's request must not wait for it again and again, nor write a log line each time:
an ``OutageBreaker`` remembers the failure for ``retry_after`` seconds (the caller skips
the service meanwhile and does without it) and writes one warning per ``warn_every``
seconds, saying how many requests did without the service since the last one. Nothing
in it names a person: callers pass what failed and the error's type, never a key or an
address.
"""

from __future__ import annotations

import logging
import threading
import time


class OutageBreaker:
    """Per-process memory of a service's last failure.

    ``available()``: whether to ask the service now (no failure within ``retry_after``
    seconds); when it says no, the caller does without and calls ``skipped()``.
    ``failed(error)``: the service just failed. ``answered()``: it just worked (the
    first time after a failure says so in the log). ``reset()``: forget (tests).
    """

    def __init__(
        self, logger: logging.Logger, what: str, consequence: str, *, retry_after: float, warn_every: float = 60.0
    ) -> None:
        self.logger = logger
        self.what = what
        self.consequence = consequence
        self.retry_after = retry_after
        self.warn_every = warn_every
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._failed_at: float | None = None
            self._warned_at: float | None = None
            self._done_without = 0

    def available(self) -> bool:
        """Whether to ask the service: it has not failed in the last ``retry_after`` seconds."""
        with self._lock:
            return self._failed_at is None or time.monotonic() - self._failed_at >= self.retry_after

    def skipped(self) -> None:
        """A request did without the service (it had failed moments ago)."""
        with self._lock:
            self._done_without += 1

    def answered(self) -> None:
        """The service just worked: after a failure, say once that it is back."""
        if self._failed_at is None:  # the usual case, read without the lock
            return
        with self._lock:
            if self._failed_at is None:
                return
            count = self._done_without
            self._failed_at = self._warned_at = None
            self._done_without = 0
        self.logger.warning("%s answers again (%d request(s) did without it before)", self.what, count)

    def failed(self, error: BaseException) -> None:
        """The service just failed: remember it, and warn unless this process warned
        within ``warn_every`` seconds."""
        now = time.monotonic()
        with self._lock:
            self._failed_at = now
            self._done_without += 1
            if self._warned_at is not None and now - self._warned_at < self.warn_every:
                return
            self._warned_at = now
            count, self._done_without = self._done_without, 0
        self.logger.warning(
            "%s unreachable (%s): %s; %d request(s) did without it since this process last said so",
            self.what,
            type(error).__name__,
            self.consequence,
            count,
        )
