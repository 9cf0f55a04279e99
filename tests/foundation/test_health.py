"""GET /healthz: 503 only when the database does not answer (no page works without it);
the body says what is down: ``degraded`` with the broker unreachable, still 200, since the
console, check-in links and inbound SMS work without Redis. Each check has a time limit."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from django.core.cache import cache
from django.db import OperationalError
from django.test import Client

from embassy import health

pytestmark = pytest.mark.django_db


def _get() -> tuple[int, dict]:
    response = Client().get("/healthz")
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response.get("Cache-Control", "") or "max-age=0" in response.get("Cache-Control", "")
    return response.status_code, response.json()


def test_healthy_with_tasks_in_process(settings) -> None:
    settings.REDIS_URL = ""
    status, body = _get()
    assert status == 200
    assert body == {
        "status": "ok",
        "checks": {
            "database": "ok",
            "broker": "in-process",
            "sweep_age_s": None,
            "send_queue_age_s": None,
            "paused_channels": [],
        },
    }


@pytest.mark.redis
def test_healthy_with_the_real_broker() -> None:
    status, body = _get()
    assert status == 200 and body["checks"]["broker"] == "ok"


def test_an_unreachable_broker_is_degraded_but_keeps_the_web_in_service(settings) -> None:
    settings.REDIS_URL = "redis://:secret-password@127.0.0.1:9/0"  # nothing listens on port 9
    status, body = _get()
    assert status == 200
    assert body == {
        "status": "degraded",
        "checks": {
            "database": "ok",
            "broker": "unreachable",
            "sweep_age_s": None,
            "send_queue_age_s": None,
            "paused_channels": [],
        },
    }
    assert "127.0.0.1" not in str(body) and "secret" not in str(body)


def _database_refuses(monkeypatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr(health.connection, "cursor", refuse)  # SQLite's check
    monkeypatch.setattr(health, "_probe_postgresql", refuse)  # PostgreSQL's


def test_an_unreachable_database_fails(settings, monkeypatch) -> None:
    settings.REDIS_URL = ""
    _database_refuses(monkeypatch)
    status, body = _get()
    assert status == 503
    assert body == {
        "status": "fail",
        "checks": {
            "database": "unreachable",
            "broker": "in-process",
            "sweep_age_s": None,
            "send_queue_age_s": None,
            "paused_channels": None,
        },
    }


def test_with_both_down_it_fails_and_names_both(settings, monkeypatch) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    _database_refuses(monkeypatch)
    status, body = _get()
    assert status == 503
    assert body["status"] == "fail"
    assert body["checks"]["database"] == body["checks"]["broker"] == "unreachable"


@pytest.mark.postgres
def test_a_database_that_does_not_answer_fails_within_the_time_limit(settings, monkeypatch) -> None:
    """A server that takes the connection and never speaks (a hung PostgreSQL, a
    black-holed address): the request stops waiting after TIMEOUT_SECONDS, and the probe
    left behind gives up by itself soon after (its connect timeout)."""
    settings.REDIS_URL = ""
    probe_ended = threading.Event()
    real_probe, real_params = health._probe_postgresql, health._probe_params

    def probe(*args: object) -> None:
        try:
            real_probe(*args)
        finally:
            probe_ended.set()

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        monkeypatch.setattr(health, "_probe_params", lambda: {**real_params(), "host": "127.0.0.1", "port": port})
        monkeypatch.setattr(health, "_probe_postgresql", probe)
        started = time.monotonic()
        status, body = _get()
        waited = time.monotonic() - started
        assert status == 503 and body["checks"]["database"] == "unreachable"
        assert health.TIMEOUT_SECONDS <= waited < health.TIMEOUT_SECONDS + 0.5
        assert not probe_ended.is_set()  # it was still waiting for the server...
        assert probe_ended.wait(health.PROBE_CONNECT_TIMEOUT_SECONDS + 1)  # ... and then gave up by itself


@pytest.mark.postgres
def test_the_probe_has_a_statement_timeout() -> None:
    import psycopg

    started = time.monotonic()
    with pytest.raises(psycopg.errors.QueryCanceled):
        health._probe_postgresql(health._probe_params(), "SELECT pg_sleep(5)")
    assert time.monotonic() - started < health.TIMEOUT_SECONDS + 1


def test_the_sweep_reports_its_heartbeat(settings) -> None:
    from alerts.tasks import sweep_deliveries

    settings.REDIS_URL = ""
    cache.delete(health.SWEEP_HEARTBEAT_KEY)
    sweep_deliveries()
    status, body = _get()
    assert status == 200 and body["checks"]["sweep_age_s"] in (0, 1)


def test_only_get(settings) -> None:
    settings.REDIS_URL = ""
    assert Client().post("/healthz").status_code == 405


@pytest.mark.redis
def test_each_send_queue_reports_when_a_task_on_it_last_finished(settings, monkeypatch) -> None:
    monkeypatch.setattr(health, "_queue_written", {})
    queues = sorted(settings.ALERT_SEND_QUEUES.values())
    cache.delete_many([health.QUEUE_HEARTBEAT_KEY + q for q in queues])
    status, body = _get()
    assert status == 200 and body["checks"]["send_queue_age_s"] == dict.fromkeys(queues)  # never yet

    sms = settings.ALERT_SEND_QUEUES["sms"]
    cache.set(health.QUEUE_HEARTBEAT_KEY + sms, time.time() - 600, timeout=None)  # its workers stopped 10 min ago
    assert _get()[1]["checks"]["send_queue_age_s"][sms] in (600, 601)
    health.record_queue_activity(sms)
    ages = _get()[1]["checks"]["send_queue_age_s"]
    assert ages[sms] in (0, 1) and ages[settings.ALERT_SEND_QUEUES["email"]] is None


def test_a_process_writes_a_queues_heartbeat_at_most_every_few_seconds(monkeypatch) -> None:
    monkeypatch.setattr(health, "_queue_written", {})
    writes: list[str] = []
    monkeypatch.setattr(health.cache, "set", lambda key, *args, **kwargs: writes.append(key))
    for _ in range(100):
        health.record_queue_activity("send-sms")
    health.record_queue_activity("send-email")
    assert writes == [health.QUEUE_HEARTBEAT_KEY + "send-sms", health.QUEUE_HEARTBEAT_KEY + "send-email"]


def test_beat_sends_a_heartbeat_to_each_send_queue() -> None:
    from django.conf import settings as conf

    beats = {
        entry["options"]["queue"]: entry
        for name, entry in conf.CELERY_BEAT_SCHEDULE.items()
        if entry["task"] == "alerts.tasks.queue_heartbeat"
    }
    assert set(beats) == set(conf.ALERT_SEND_QUEUES.values())
    assert all(
        entry["schedule"] == entry["options"]["expires"] == conf.DELIVERY_SWEEP_EVERY_SECONDS
        for entry in beats.values()
    )
