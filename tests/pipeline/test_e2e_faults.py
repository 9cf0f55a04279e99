"""End to end: faults the other e2e tests do not inject, through a real worker.

- answers lost after the provider took the message (the stub stores and records it as
  accepted, then drops the connection unanswered): SMS is looked up, never resent;
  email ends "outcome unknown", never sent twice;
- the worker's PostgreSQL connections terminated mid-alert;
- the worker's Redis connections killed mid-alert.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from alerts.models import Alert, Delivery
from tests.fixtures.worker import wait_until
from tests.pipeline.e2e import accepted_counts, approve_live, open_deliveries, populate, worker_env

pytestmark = [pytest.mark.worker, pytest.mark.postgres, pytest.mark.redis]
D = Delivery.State


def finished(alert: Alert) -> bool:
    alert.refresh_from_db()
    return alert.state == Alert.State.SENT and open_deliveries(alert) == 0


def states(alert: Alert) -> dict[str, int]:
    counts: dict[str, int] = {}
    for state in Delivery.objects.filter(alert=alert).values_list("state", flat=True):
        counts[state] = counts.get(state, 0) + 1
    return counts


def slow_sms_to_300(provider_stub):  # type: ignore[no-untyped-def]
    """300 phone-only citizens and a worker environment that sends to them over a few
    seconds (stub 20-50 ms, rounds of 10, 80 SMS/s), so a fault can land mid-alert."""
    people = populate(300, phone_only=True)
    provider_stub.configure(latency_ms=20, latency_jitter_ms=30)
    env, _sender = worker_env(provider_stub, SMS_RATE_PER_SECOND=80, SMS_CLAIM_SIZE=10, SMS_CONCURRENCY=5)
    return people, env


def cut_at_40_and_150_sms(provider_stub, cut) -> list[int]:  # type: ignore[no-untyped-def]
    """Run ``cut`` once the stub has accepted 40 SMS and again at 150; what each returned."""
    results = []
    for threshold in (40, 150):
        wait_until(
            lambda n=threshold: sum(accepted_counts(provider_stub, "sms").values()) >= n,
            timeout=30,
            interval=0.02,
            what=f"{threshold} SMS",
        )
        results.append(cut())
    return results


def assert_each_once_and_all_sent(provider_stub, people, alert) -> None:  # type: ignore[no-untyped-def]
    sms = accepted_counts(provider_stub, "sms")
    assert set(sms) == {p.phone for p in people}
    assert set(sms.values()) == {1}, "an address got a second SMS"
    assert states(alert) == {D.SENT: 300}


# --- answers lost after the provider took the message -------------------------------------


def test_sms_whose_answers_are_lost_are_looked_up_not_resent(
    celery_workers, provider_stub, afghanistan, author, approver
) -> None:
    people = populate(300, phone_only=True)
    provider_stub.configure(lose_answer_rate=0.15)
    env, _sender = worker_env(provider_stub, SMS_RATE_PER_SECOND=400, PROVIDER_TIMEOUT_SECONDS=2)
    celery_workers.start("w1", env=env, beat=True)
    alert = approve_live(author, approver, [afghanistan])
    wait_until(lambda: finished(alert), timeout=50, what=f"every delivery to be final ({states(alert)})")

    lost = [r for r in provider_stub.received("sms") if r.get("answer_lost")]
    assert 15 <= len(lost) <= 90  # ~15% of 300: the answers really were lost
    sms = accepted_counts(provider_stub, "sms")
    assert set(sms) == {p.phone for p in people}
    assert set(sms.values()) == {1}, "an SMS whose answer was lost was sent again"
    deliveries = list(Delivery.objects.filter(alert=alert))
    assert {d.state for d in deliveries} == {D.SENT}
    # Each lost one was settled by the look-up: SENT with the SID the stub gave it.
    sid_of = {r["to"][0]: r["sid"] for r in provider_stub.received("sms") if r["status"] < 300}
    assert all(d.provider_message_id == sid_of[d.address] for d in deliveries)
    reconciled = [d for d in deliveries if d.attempts > 1]
    assert {d.address for d in reconciled} >= {r["to"][0] for r in lost}


def test_an_email_request_whose_answer_is_lost_ends_outcome_unknown_never_twice(
    celery_workers, provider_stub, afghanistan, author, approver
) -> None:
    people = populate(300)
    provider_stub.fail_next(1, api="email", lose_answer=True)
    env, _sender = worker_env(provider_stub, EMAIL_BATCH_SIZE=50, PROVIDER_TIMEOUT_SECONDS=2)
    celery_workers.start("w1", env=env, beat=True)
    alert = approve_live(author, approver, [afghanistan], send_sms=False)
    wait_until(lambda: finished(alert), timeout=50, what=f"every delivery to be final ({states(alert)})")

    requests = provider_stub.received("email")
    lost = [r for r in requests if r.get("answer_lost")]
    assert len(lost) == 1 and lost[0]["batch_size"] == 50
    email = accepted_counts(provider_stub, "email")
    assert set(email) == {p.email for p in people}  # the lost request's were taken too
    assert set(email.values()) == {1}, "an email whose answer was lost was sent again"
    deliveries = {d.address: d for d in Delivery.objects.filter(alert=alert)}
    unknown = {a for a, d in deliveries.items() if d.state == D.FAILED}
    assert unknown == set(lost[0]["to"])
    assert {deliveries[a].error_code for a in unknown} == {"unknown"}
    assert all("outcome unknown" in deliveries[a].error_reason for a in unknown)
    assert {d.state for a, d in deliveries.items() if a not in unknown} == {D.SENT}


# --- PostgreSQL connections dropped mid-alert ---------------------------------------------


def terminate_other_backends() -> int:
    """Terminate every backend of this test database but this process's own; return how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_postgres_connections_dropped_mid_alert(celery_workers, provider_stub, afghanistan, author, approver) -> None:
    people, env = slow_sms_to_300(provider_stub)
    celery_workers.start("w1", env=env, beat=True)
    alert = approve_live(author, approver, [afghanistan])
    terminated = cut_at_40_and_150_sms(provider_stub, terminate_other_backends)
    assert all(terminated), terminated  # the worker's connections were there, and were cut
    assert sum(accepted_counts(provider_stub, "sms").values()) < 300  # cut while it was sending
    wait_until(lambda: finished(alert), timeout=50, what=f"every delivery to be final ({states(alert)})")
    assert_each_once_and_all_sent(provider_stub, people, alert)


# --- Redis connections dropped mid-alert --------------------------------------------------


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in os.scandir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(fd.path)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def local_ports_of_group(pgid: int) -> set[int]:
    """Local TCP ports of every process in process group ``pgid`` (a worker and its pool)."""
    inodes: set[str] = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[2]) == pgid:  # field 5: the process group
            inodes |= _socket_inodes(int(entry.name))
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def kill_worker_redis_clients(client, worker) -> int:
    """``CLIENT KILL`` the worker's connections to our Redis database only; return how many."""
    db = client.connection_pool.connection_kwargs.get("db", 0)
    ports = local_ports_of_group(worker.process.pid)
    killed = 0
    for info in client.client_list():
        if int(info.get("db", -1)) != db or int(info["addr"].rsplit(":", 1)[1]) not in ports:
            continue
        killed += client.client_kill_filter(_id=info["id"])
    return killed


def test_redis_connections_dropped_mid_alert(celery_workers, provider_stub, afghanistan, author, approver) -> None:
    import redis

    people, env = slow_sms_to_300(provider_stub)
    worker = celery_workers.start("w1", env=env, beat=True)
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        alert = approve_live(author, approver, [afghanistan])
        killed = cut_at_40_and_150_sms(provider_stub, lambda: kill_worker_redis_clients(client, worker))
    finally:
        client.close()
    assert all(killed), killed  # the worker's connections were there, and were cut
    assert sum(accepted_counts(provider_stub, "sms").values()) < 300  # cut while it was sending
    wait_until(lambda: finished(alert), timeout=50, what=f"every delivery to be final ({states(alert)})")
    assert_each_once_and_all_sent(provider_stub, people, alert)
    assert worker.alive
