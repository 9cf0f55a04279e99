"""/healthz tells whether each send queue's workers are alive: a real worker, a real beat.

Beat queues a do-nothing task on each send queue every sweep interval; any task that
finishes on a queue records it. With the workers stopped, the age grows."""

from __future__ import annotations

import time
import uuid

import pytest
from django.core.cache import cache
from django.test import Client

from embassy import health
from tests.fixtures.worker import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _ages() -> dict[str, int | None]:
    return Client().get("/healthz").json()["checks"]["send_queue_age_s"]


def test_a_send_queue_with_live_workers_reports_a_fresh_heartbeat(celery_workers, settings) -> None:
    # The workers write their heartbeats to Redis; this process reads them there too.
    prefix = f"heartbeat-test-{uuid.uuid4().hex[:8]}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    queues = list(settings.ALERT_SEND_QUEUES.values())
    assert set(_ages().values()) == {None}
    env = {"DELIVERY_SWEEP_EVERY_SECONDS": "1", "EMBASSY_TEST_SHARED_CACHE_PREFIX": prefix}
    celery_workers.start("w1", env=env, beat=True)
    wait_until(lambda: all(age is not None and age <= 2 for age in _ages().values()), 60, what="both heartbeats")
    celery_workers.stop_all()
    time.sleep(3.5)
    assert all(age >= 3 for age in _ages().values())  # nothing finishes there any more
    cache.delete_many([health.QUEUE_HEARTBEAT_KEY + q for q in queues])
