"""End to end: two workers share one SMS rate limit through Redis."""

from __future__ import annotations

import pytest

from alerts.models import Alert, Delivery
from tests.fixtures.worker import wait_until
from tests.pipeline.e2e import accepted_counts, approve_live, most_in_any_second, open_deliveries, populate, worker_env

pytestmark = [pytest.mark.worker, pytest.mark.postgres, pytest.mark.redis]

RATE = 40
TOLERANCE = 2  # a coroutine's sleep may wake a few milliseconds late


def test_two_workers_never_exceed_the_shared_rate(celery_workers, provider_stub, afghanistan, author, approver) -> None:
    populate(320, phone_only=True)
    env, _sender = worker_env(
        provider_stub, SMS_RATE_PER_SECOND=RATE, SMS_TASK_CHUNK=20, SMS_CLAIM_SIZE=10, LOG_LEVEL="INFO"
    )
    workers = [celery_workers.start(name, env=env, concurrency=2) for name in ("left", "right")]
    alert = approve_live(author, approver, [afghanistan])

    def settled() -> bool:
        alert.refresh_from_db()
        return alert.state == Alert.State.SENT and open_deliveries(alert) == 0

    wait_until(settled, timeout=120, what="the alert to be sent")
    requests = [r for r in provider_stub.received("sms") if r["status"] < 300]
    assert len(requests) == 320 and set(accepted_counts(provider_stub, "sms").values()) == {1}
    stamps = [r["started"] for r in requests]
    base = min(stamps)
    arrivals = " ".join(f"{t - base:.3f}" for t in sorted(stamps))
    assert most_in_any_second(stamps) <= RATE + TOLERANCE, f"arrivals (s): {arrivals}"
    assert max(stamps) - min(stamps) >= (320 - RATE - TOLERANCE) / RATE  # the limit held them back
    for worker in workers:  # both really sent: the limit was shared, not one worker's own
        assert "send_delivery_chunk" in worker.log() and "succeeded" in worker.log()
    assert Delivery.objects.filter(alert=alert, state=Delivery.State.SENT).count() == 320
