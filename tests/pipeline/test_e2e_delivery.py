"""End to end: a real worker, PostgreSQL, Redis and the provider stub through the SDKs."""

from __future__ import annotations

import time

import pytest

from alerts.models import Alert, Delivery
from alerts.services.alerts import abort_alert
from tests.fixtures.worker import wait_until
from tests.pipeline.e2e import accepted_counts, approve_live, open_deliveries, populate, worker_env

pytestmark = [pytest.mark.worker, pytest.mark.postgres, pytest.mark.redis]
D = Delivery.State


def finished(alert: Alert) -> bool:
    alert.refresh_from_db()
    return alert.state in (Alert.State.SENT, Alert.State.ABORTED) and open_deliveries(alert) == 0


def test_an_alert_to_thousands_arrives_once_per_address_per_channel(
    celery_workers, provider_stub, afghanistan, author, approver
) -> None:
    people = populate(2000)
    env, _sender = worker_env(provider_stub, SMS_RATE_PER_SECOND=800)
    celery_workers.start("w1", env=env, beat=True)
    alert = approve_live(author, approver, [afghanistan])
    assert alert.audience_summary["addresses"] == {"sms": 2000, "email": 2000}
    wait_until(lambda: finished(alert), timeout=150, what="the alert to be sent")
    sms, email = accepted_counts(provider_stub, "sms"), accepted_counts(provider_stub, "email")
    assert set(sms) == {p.phone for p in people} and set(sms.values()) == {1}
    assert set(email) == {p.email for p in people} and set(email.values()) == {1}
    assert len(provider_stub.received("email")) == 2  # 1,000 personalizations per request
    assert Delivery.objects.filter(alert=alert, state=D.SENT).count() == 4000
    assert alert.state == Alert.State.SENT


def test_with_transient_failures_still_exactly_once(
    celery_workers, provider_stub, afghanistan, author, approver
) -> None:
    people = populate(600, phone_only=True)
    provider_stub.configure(failure_rate=0.25, failure_http_status=503)
    env, _sender = worker_env(provider_stub, SMS_RATE_PER_SECOND=400)
    celery_workers.start("w1", env=env, beat=True)
    alert = approve_live(author, approver, [afghanistan])
    wait_until(lambda: finished(alert), timeout=120, what="every delivery to be final")
    failed_requests = [r for r in provider_stub.received("sms") if r["status"] >= 500]
    assert len(failed_requests) > 50  # the failures really happened
    sms = accepted_counts(provider_stub, "sms")
    assert set(sms) == {p.phone for p in people} and set(sms.values()) == {1}
    retried = Delivery.objects.filter(alert=alert, attempts__gt=1).count()
    assert retried > 50
    assert Delivery.objects.filter(alert=alert, state=D.SENT).count() == 600


def test_an_aborted_alert_stops(celery_workers, provider_stub, afghanistan, author, approver) -> None:
    populate(1500, phone_only=True)
    env, _sender = worker_env(provider_stub, SMS_RATE_PER_SECOND=100, SMS_CLAIM_SIZE=20)
    celery_workers.start("w1", env=env, beat=True)
    alert = approve_live(author, approver, [afghanistan])
    wait_until(lambda: len(accepted_counts(provider_stub, "sms")) >= 100, timeout=60, what="the first 100 SMS")
    abort_alert(alert, by=approver)
    aborted_at = time.monotonic()
    wait_until(lambda: finished(alert), timeout=30, what="the aborted alert to settle")
    settled = sum(accepted_counts(provider_stub, "sms").values())
    time.sleep(3)  # nothing more may go out after the claimed round has finished
    sms = accepted_counts(provider_stub, "sms")
    assert sum(sms.values()) == settled
    assert set(sms.values()) == {1}
    sent = Delivery.objects.filter(alert=alert, state=D.SENT).count()
    skipped = Delivery.objects.filter(alert=alert, state=D.SKIPPED, error_reason="aborted").count()
    assert sent == settled and sent + skipped == 1500
    assert skipped > 1000  # it stopped, rather than finishing
    late = [r for r in provider_stub.received("sms") if r["started"] > aborted_at + 2]
    assert late == []  # within seconds
