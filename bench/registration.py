"""Load test of citizen registration: ``python -m bench.registration``.

Creates its own database (``--db-name``, default ``embassy_bench_reg_<pid>``, dropped at the end), serves the site with
gunicorn (``--gunicorn-workers`` processes of ``--worker-class``, default 3 gthread workers
of 4 threads each, which keep wrk's connections alive where sync workers close each one;
PostgreSQL; per-client and per-address rate limits switched off with
``RATE_LIMITS_ENABLED=false``), and drives the
registration form with Debian's ``wrk`` (``apt-get install wrk``) for ``--seconds``
seconds over ``--connections`` connections, each request a new citizen with a phone and
an email no other request uses (``bench/register.lua``). A registration is completed
when the form answers with its redirect to the code page (HTTP 302); the database count
of citizens is checked against that. Verification messages are queued to the run's own
Redis db under a key prefix of the run's own (not sent: the sending side is what
``bench/run`` measures) and deleted at the end.

Prints one table and one JSON line (also appended to ``--json-out``).
"""

from __future__ import annotations

import argparse
import contextlib
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import psycopg

from bench.procs import MemorySampler, Proc, wait_until

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.registration", description=__doc__)
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--threads", type=int, default=1, help="wrk threads (default 1: wrk is light)")
    p.add_argument("--gunicorn-workers", type=int, default=3)
    # gthread keeps each wrk connection alive (a sync worker closes it after every request)
    # and overlaps a request's PostgreSQL and Redis waits with another's work.
    p.add_argument("--worker-class", default="gthread", choices=("sync", "gthread"), help="gunicorn worker class")
    p.add_argument("--gunicorn-threads", type=int, default=4, help="threads per worker (gthread; sync takes 1)")
    p.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    p.add_argument("--db-name", help="database created and dropped (default embassy_bench_reg_<pid>)")
    p.add_argument("--redis", default="redis://127.0.0.1:6379")
    p.add_argument("--redis-db", type=int, default=12, help="Redis db; the run's keys carry a prefix of its own")
    p.add_argument("--out-dir", type=Path, default=ROOT / "bench" / "out")
    p.add_argument("--json-out", type=Path)
    p.add_argument(
        "--profile", action="store_true", help="py-spy the gunicorn workers (<out-dir>/profile-gunicorn.txt)"
    )
    args = p.parse_args(argv)
    wrk = shutil.which("wrk")
    if not wrk:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    args.out_dir.mkdir(parents=True, exist_ok=True)
    args.db_name = args.db_name or f"embassy_bench_reg_{os.getpid()}"
    dsn = f"{args.pg}/{args.db_name}"
    prefix = f"benchreg{os.getpid()}:"
    redis_url = f"{args.redis}/{args.redis_db}"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        BENCH_REDIS_PREFIX=prefix,
        DEBUG="false",
        SECRET_KEY="bench-only-key-" + "r" * 40,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=dsn,
        DB_CONN_MAX_AGE="600",
        REDIS_URL=redis_url,
        RATE_LIMITS_ENABLED="false",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    server: Proc | None = None
    memory = MemorySampler()
    result: dict[str, Any] = {"bench": "registration", "connections": args.connections}
    result.update(gunicorn_workers=args.gunicorn_workers, seconds=args.seconds)
    result.update(
        worker_class=args.worker_class, gunicorn_threads=args.gunicorn_threads if args.worker_class == "gthread" else 1
    )
    status = 0
    try:
        with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.db_name}"')  # never FORCE: in use = another run's
            conn.execute(f'CREATE DATABASE "{args.db_name}"')
        migrate = subprocess.run(
            [PYTHON, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env, capture_output=True, timeout=300
        )
        if migrate.returncode:
            raise RuntimeError(migrate.stderr.decode()[-2000:])
        log = args.out_dir / "gunicorn.log"
        log.unlink(missing_ok=True)
        argv_g = [str(Path(PYTHON).parent / "gunicorn"), "embassy.wsgi", "-b", f"127.0.0.1:{port}"]
        argv_g += ["-w", str(args.gunicorn_workers), "--backlog", "2048", "--log-level", "warning"]
        threads = args.gunicorn_threads if args.worker_class == "gthread" else 1
        argv_g += ["--worker-class", args.worker_class, "--threads", str(threads)]
        server = Proc("gunicorn", argv_g, env, log, ROOT)
        memory.track("gunicorn", server.pid)
        memory.start()
        url = f"http://127.0.0.1:{port}/"

        def answering() -> bool:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback
                    return True
            return not server.alive()

        if not wait_until(answering, 60, 0.3) or not server.alive():
            raise RuntimeError("gunicorn did not start:\n" + server.tail())
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = opener.open(url, timeout=10).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        cookie = next(c.value for c in jar if c.name == "csrftoken")
        script = str(Path(__file__).with_name("register.lua"))
        argv_w = [wrk, "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.seconds}s"]
        argv_w += ["--timeout", "10s", "-s", script, url, "--", cookie, token]
        spy = None
        if args.profile:
            out = args.out_dir / "profile-gunicorn.txt"
            argv_s = [str(Path(PYTHON).parent / "py-spy"), "record", "--pid", str(server.pid), "--subprocesses"]
            argv_s += ["--format", "raw", "-o", str(out), "--rate", "50", "--nonblocking"]
            spy = subprocess.Popen(argv_s, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        began = time.time()
        done = subprocess.run(argv_w, capture_output=True, text=True, timeout=args.seconds + 60)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode or not lines:
            raise RuntimeError(f"wrk failed: {done.stdout[-1500:]} {done.stderr[-1500:]}")
        figures = json.loads(lines[-1])
        result["wrk"] = figures
        seconds = figures["duration_us"] / 1e6
        completed = figures["requests"] - figures["non_2xx_3xx"]
        with psycopg.connect(dsn) as conn:
            citizens = conn.execute("SELECT count(*) FROM registrations_citizen").fetchone()[0]  # type: ignore[index]
        result.update(
            completed=completed,
            citizens_in_db=citizens,
            completed_per_s=round(completed / seconds, 1),
            p95_ms=figures["p95_ms"],
            p50_ms=figures["p50_ms"],
            p99_ms=figures["p99_ms"],
            errors=figures["non_2xx_3xx"] + figures["connect_errors"] + figures["read_errors"] + figures["timeouts"],
            gunicorn_peak_rss_mb=memory.peaks(),
            wall_s=round(time.time() - began, 1),
        )
        result["targets"] = [
            {"target": ">= 300 completed registrations/s", "value": result["completed_per_s"]},
            {"target": "p95 latency < 250 ms", "value": result["p95_ms"]},
        ]
        result["targets"][0]["met"] = result["completed_per_s"] >= 300
        result["targets"][1]["met"] = result["p95_ms"] < 250
    except BaseException as exc:  # reported; cleanup below
        status = 1
        result["error"] = f"{type(exc).__name__}: {exc}"
        print(f"[registration] failed: {result['error']}", file=sys.stderr)
        if server is not None:
            print(server.tail(), file=sys.stderr)
    finally:
        memory.stop()
        if server is not None:
            server.stop()
        with contextlib.suppress(Exception), psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
        with contextlib.suppress(Exception):
            import redis

            client = redis.Redis.from_url(redis_url, socket_timeout=5)
            keys = list(client.scan_iter(match=prefix + "*", count=1000))
            for start in range(0, len(keys), 1000):
                client.delete(*keys[start : start + 1000])
    result["cpus"] = os.cpu_count()
    if status == 0:
        print(
            f"Registration load test: gunicorn {args.gunicorn_workers} {args.worker_class} workers"
            f"{f' x {args.gunicorn_threads} threads' if args.worker_class == 'gthread' else ''}, "
            f"wrk {args.connections} connections, "
            f"{args.seconds} s, {os.cpu_count()} CPUs\n"
            f"  completed registrations   {result['completed']:,} "
            f"({result['citizens_in_db']:,} citizens in the database)\n"
            f"  completed per second      {result['completed_per_s']:,.1f}   (target >= 300)\n"
            f"  latency p50 / p95 / p99   {result['p50_ms']:.0f} / {result['p95_ms']:.0f} / {result['p99_ms']:.0f} ms"
            f"   (target p95 < 250)\n"
            f"  errors (non-3xx, socket)  {result['errors']}\n"
            f"  peak RSS (MB)             {result['gunicorn_peak_rss_mb']}"
        )
    text = json.dumps(result)
    print(text)
    if args.json_out:
        with args.json_out.open("a") as f:
            f.write(text + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
