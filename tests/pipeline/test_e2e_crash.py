"""End to end: a worker killed (SIGKILL) mid-alert; another finishes; nobody gets two."""

from __future__ import annotations

import pytest

from alerts.models import Alert, Delivery
from tests.fixtures.worker import wait_until
from tests.pipeline.e2e import accepted_counts, approve_live, open_deliveries, populate, worker_env

pytestmark = [pytest.mark.worker, pytest.mark.postgres, pytest.mark.redis]
D = Delivery.State


def test_a_killed_worker_sends_no_address_twice_and_every_delivery_ends(
    celery_workers, provider_stub, afghanistan, author, approver
) -> None:
    people = populate(1500, phone_only=True)
    env, _sender = worker_env(
        provider_stub, SMS_RATE_PER_SECOND=150, ALERT_FANOUT_CHUNK=25, SMS_TASK_CHUNK=50, SMS_CLAIM_SIZE=25
    )
    first = celery_workers.start("doomed", env=env, concurrency=2)
    alert = approve_live(author, approver, [afghanistan])
    wait_until(lambda: len(accepted_counts(provider_stub, "sms")) >= 60, timeout=60, what="the first SMS")
    first.kill()
    assert not first.alive
    alert.refresh_from_db()
    at_kill = {
        "accepted": sum(accepted_counts(provider_stub, "sms").values()),
        "deliveries": Delivery.objects.filter(alert=alert).count(),
        "sending": Delivery.objects.filter(alert=alert, state=D.SENDING).count(),
        "fan_out_done": alert.fanout_done_at is not None,
    }

    celery_workers.start("rescuer", env=env, concurrency=2, beat=True)

    def settled() -> bool:
        alert.refresh_from_db()
        return alert.state == Alert.State.SENT and open_deliveries(alert) == 0

    wait_until(settled, timeout=150, what=f"the rescuer to finish the alert (at the kill: {at_kill})")

    sms = accepted_counts(provider_stub, "sms")
    assert max(sms.values()) == 1, "an address got a second message"
    deliveries = {d.address: d for d in Delivery.objects.filter(alert=alert)}
    assert set(deliveries) == {p.phone for p in people}  # the fan-out was resumed to the end
    assert all(d.state in Delivery.FINAL_STATES for d in deliveries.values())
    sent = {a for a, d in deliveries.items() if d.state == D.SENT}
    unknown = {a for a, d in deliveries.items() if d.state == D.FAILED and d.error_code == "unknown"}
    assert sent | unknown == set(deliveries)
    assert sent <= set(sms)  # everything recorded as sent reached the provider once
    assert set(sms) - sent <= unknown  # taken by the provider as the worker died: not sent again
    assert len(unknown) <= 2 * 25  # at most one claimed round per pool process was in flight
