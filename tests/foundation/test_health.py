"""GET /healthz: the database and the broker answer (200) or which one does not (503)."""

from __future__ import annotations

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
        "checks": {"database": "ok", "broker": "in-process", "sweep_age_s": None, "paused_channels": []},
    }


@pytest.mark.redis
def test_healthy_with_the_real_broker() -> None:
    status, body = _get()
    assert status == 200 and body["checks"]["broker"] == "ok"


def test_an_unreachable_broker_fails_without_saying_where_it_is(settings) -> None:
    settings.REDIS_URL = "redis://:secret-password@127.0.0.1:9/0"  # nothing listens on port 9
    status, body = _get()
    assert status == 503
    assert body["status"] == "fail" and body["checks"]["broker"] == "unreachable"
    assert "127.0.0.1" not in str(body) and "secret" not in str(body)


def test_an_unreachable_database_fails(settings, monkeypatch) -> None:
    settings.REDIS_URL = ""

    def refuse(*args: object, **kwargs: object) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr(health.connection, "cursor", refuse)
    status, body = _get()
    assert status == 503 and body["checks"]["database"] == "unreachable"


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
