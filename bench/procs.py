"""Processes the benchmark starts (stub, workers, SDK loops) and their memory.

Every child runs in a process group of its own and gets SIGTERM if the benchmark dies
(``PR_SET_PDEATHSIG``), so nothing outlives a run, even one killed with SIGKILL.
``stop`` ends a whole group: SIGTERM, then SIGKILL after a bounded wait.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Proc:
    """A child process in its own group, its output in ``log``."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str], log: Path, cwd: Path) -> None:
        self.name = name
        self.log = log
        self._log_file = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            list(argv),
            env=env,
            cwd=cwd,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - no threads are started before it runs
        )
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace: float = 8.0) -> None:
        """End the process and everything in its group; bounded by ``grace`` seconds + 2."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)
            try:
                self.popen.wait(wait)
                # Pool children may outlive their parent briefly: make sure the group is gone.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.pid, signal.SIGKILL)
                break
            except subprocess.TimeoutExpired:
                continue
        self._log_file.close()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


# --- memory (from /proc, no extra dependency) ------------------------------------------


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def rss_mb(pid: int) -> float:
    return _status_kb(pid, "VmRSS") / 1024


def hwm_mb(pid: int) -> float:
    """Peak resident memory of ``pid`` since it started (VmHWM)."""
    return _status_kb(pid, "VmHWM") / 1024


def children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids.extend(int(p) for p in f.read().split())
    except OSError:
        pass
    return kids


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` has used so far (``/proc/<pid>/stat``)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def cpu_by_role(roots: dict[str, list[int]]) -> dict[str, dict[int, float]]:
    """CPU seconds used so far by each process of each role (with the children of each root)."""
    out: dict[str, dict[int, float]] = {}
    for role, pids in roots.items():
        seen: dict[int, float] = {}
        for pid in pids:
            for each in (pid, *children(pid)):
                seen[each] = cpu_seconds(each)
        out[role] = seen
    return out


def cpu_used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
    """CPU seconds each role used between two ``cpu_by_role`` readings (a process that
    started in between counts from zero)."""
    return {
        role: round(sum(t - before.get(role, {}).get(pid, 0.0) for pid, t in pids.items()), 2)
        for role, pids in after.items()
    }


class MemorySampler:
    """Samples the RSS of named processes (and their children) every ``interval`` seconds.

    ``peaks()`` gives, for the current phase, the highest RSS seen per role (``stub``,
    ``worker``: the Celery parent, ``bench``: this process) and, as ``<role>_child``, of
    the largest child of that role's process (a Celery or gunicorn worker). ``mark(phase)`` starts a new phase.
    """

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.roots: dict[str, int] = {"bench": os.getpid()}
        self._peaks: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def start(self) -> MemorySampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)

    def track(self, role: str, pid: int) -> None:
        with self._lock:
            self.roots[role] = pid

    def mark(self) -> None:
        with self._lock:
            self._peaks = {}

    def peaks(self) -> dict[str, float]:
        self.sample()
        with self._lock:
            return {k: round(v, 1) for k, v in sorted(self._peaks.items())}

    def sample(self) -> None:
        with self._lock:
            roots = dict(self.roots)
        seen: dict[str, float] = {}
        for role, pid in roots.items():
            seen[role] = rss_mb(pid)
            if role != "bench":
                kids = children(pid)
                if kids:
                    seen[f"{role}_child"] = max(rss_mb(k) for k in kids)
        with self._lock:
            for role, value in seen.items():
                if value > self._peaks.get(role, 0.0):
                    self._peaks[role] = value

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()


def wait_until(predicate, timeout: float, interval: float = 0.1) -> bool:  # type: ignore[no-untyped-def]
    """Poll ``predicate()`` until true or ``timeout`` seconds pass; returns whether it held."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
