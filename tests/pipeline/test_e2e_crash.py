"""End to end: a worker killed (SIGKILL) mid-alert; another finishes; nobody gets two."""

from __future__ import annotations

import sys

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

    rescuer = celery_workers.start("rescuer", env=env, concurrency=2, beat=True)

    def settled() -> bool:
        alert.refresh_from_db()
        return alert.state == Alert.State.SENT and open_deliveries(alert) == 0

    wait_until(settled, timeout=150, what=f"the rescuer to finish the alert (at the kill: {at_kill})")
    sys.stderr.write(f"at the kill: {at_kill}\n")  # shown with -s: how far the first worker had come

    sms = accepted_counts(provider_stub, "sms")
    assert max(sms.values()) == 1, "an address got a second message"
    deliveries = {d.address: d for d in Delivery.objects.filter(alert=alert)}
    assert set(deliveries) == {p.phone for p in people}  # the fan-out was resumed to the end
    assert all(d.state in Delivery.FINAL_STATES for d in deliveries.values())
    # What the dead worker had in flight was looked up at the provider: found means sent,
    # absent means sent now. So every address got its message, exactly once.
    assert set(sms) == set(deliveries)
    assert {d.state for d in deliveries.values()} == {D.SENT}
    assert all(d.provider_message_id for d in deliveries.values())
    if at_kill["sending"]:  # the rescuer's sweep settled what the dead worker held
        assert "stale SMS found at the provider" in rescuer.log()
