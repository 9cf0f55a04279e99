"""The benchmark's own correctness: what it reports is what the stub received.

Runs ``python -m bench`` end to end on a small N (its own database, Redis db, stub and
Celery workers) and checks, from its JSON line, that every seeded address got exactly
one message at the stub, through the pipeline and through the naive design, and that the
run removed its database afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _server(url: str, default_port: int) -> str:
    parts = urlparse(url)
    netloc = parts.netloc or f"127.0.0.1:{default_port}"
    return f"{parts.scheme}://{netloc}"


@pytest.mark.worker
def test_every_seeded_address_gets_exactly_one_message(tmp_path: Path) -> None:
    pg = _server(os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/embassy"), 5432)
    redis = _server(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/9"), 6379)
    db_name = f"embassy_bench_test_{os.getpid()}"  # the run's own keys in Redis carry its own prefix
    argv = [sys.executable, "-m", "bench", "--n", "200", "--naive-n", "40", "--naive-seconds", "60"]
    argv += ["--latency-ms", "0", "--ceiling-seconds", "1", "--pools", "celery=1,email=1,sms=1", "--timeout", "120"]
    argv += ["--pg", pg, "--db-name", db_name, "--redis", redis, "--redis-db", "13", "--out-dir", str(tmp_path)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(lines[-1])

    assert result["seed"]["citizens"] == 200
    rnd = result["rounds"]["0ms"]
    pipeline = rnd["pipeline"]
    assert pipeline["finished"]
    assert pipeline["correct"]["ok"], pipeline["correct"]
    assert pipeline["sms"] == result["seed"]["sms"] == 160
    assert pipeline["email_recipients"] == result["seed"]["email"] == 140
    assert pipeline["delivery_states"] == {"sent": 300}
    assert pipeline["citizens_reached"] == 200
    assert 0 < pipeline["reached_half_s"] <= pipeline["reached_90_s"] <= pipeline["reached_all_s"]
    naive = rnd["naive"]
    assert naive["finished"] and naive["correct"]["ok"], naive
    assert rnd["ceiling_sms"]["count"] > 0 and rnd["ceiling_email"]["count"] > 0
    assert rnd["ceiling_sms_after"]["count"] > 0  # the SMS ceiling again, after the pipeline
    assert result["pools"] == {"celery": 1, "email": 1, "sms": 1} and result["workers"] == 3
    assert pipeline["memory_peak_mb"]["worker_child"] > 0  # the pools' processes were sampled
    assert {"workers_sms", "workers_email", "postgres", "stub", "redis"} <= set(pipeline["cpu_s"])

    with psycopg.connect(f"{pg}/postgres") as conn:
        left = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [db_name]).fetchone()
    assert left == (0,), "the benchmark left its database behind"
