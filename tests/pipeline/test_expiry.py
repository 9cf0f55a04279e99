"""An alert past its expiry time is refused before it starts, and never starts late.

Submit and approve refuse it; a scheduled alert that expires before its fan-out starts
ends ABORTED with nothing sent (and an audit entry saying why); a fan-out under way or
taken over after the expiry creates no more deliveries, and the alert still ends.
"""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from alerts.errors import AlertContentError, ApprovalError
from alerts.models import Alert, AuditEntry, Delivery
from alerts.services import fanout
from alerts.services.alerts import approve_alert, start_due_alerts, submit_for_approval
from alerts.services.fanout import start_fan_out, sweep_deliveries
from tests.pipeline.conftest import accepted, make_alert, present

pytestmark = pytest.mark.django_db
S = Alert.State
D = Delivery.State


def ago(**delta: float) -> datetime.datetime:
    return timezone.now() - datetime.timedelta(**delta)


def ahead(**delta: float) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(**delta)


@pytest.fixture
def sending(stub_providers, settings):  # type: ignore[no-untyped-def]
    settings.SMS_RATE_PER_SECOND = 1000
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "6" * 32  # a limiter key of its own
    return stub_providers


@pytest.fixture
def submitted(afghanistan, author) -> Alert:
    present()
    return submit_for_approval(make_alert(author, areas=[afghanistan], expires_at=ahead(hours=2)), by=author)


# --- refused before approval ------------------------------------------------------------


def test_submit_refuses_an_alert_whose_expiry_has_passed(afghanistan, author) -> None:
    present()
    alert = make_alert(author, areas=[afghanistan], expires_at=ago(minutes=5))
    with pytest.raises(AlertContentError) as caught:
        submit_for_approval(alert, by=author)
    assert any("expiry time" in p and "has passed" in p for p in caught.value.problems)
    alert.refresh_from_db()
    assert alert.state == S.DRAFT and alert.submitted_at is None


def test_submit_accepts_an_expiry_still_ahead(submitted: Alert) -> None:
    assert submitted.state == S.AWAITING_APPROVAL


def test_approve_refuses_an_alert_that_expired_while_awaiting_approval(
    submitted: Alert, approver, django_capture_on_commit_callbacks
) -> None:
    Alert.objects.filter(pk=submitted.pk).update(expires_at=ago(seconds=1))
    with django_capture_on_commit_callbacks(execute=False) as callbacks, pytest.raises(AlertContentError) as caught:
        approve_alert(submitted, by=approver)
    assert "expiry time" in str(caught.value)
    assert callbacks == []  # no fan-out queued
    submitted.refresh_from_db()
    assert submitted.state == S.AWAITING_APPROVAL and submitted.approved_by is None
    assert not submitted.corrections.exists()  # no cancellation drafted either


@pytest.mark.parametrize("after_expiry", [datetime.timedelta(0), datetime.timedelta(minutes=1)])
def test_approve_refuses_a_send_time_at_or_after_the_expiry(
    submitted: Alert, approver, after_expiry: datetime.timedelta
) -> None:
    with pytest.raises(ApprovalError, match="must be before the alert expires"):
        approve_alert(submitted, by=approver, send_at=submitted.expires_at + after_expiry)
    submitted.refresh_from_db()
    assert submitted.state == S.AWAITING_APPROVAL and submitted.send_at is None


def test_approve_accepts_a_send_time_before_the_expiry(submitted: Alert, approver) -> None:
    approve_alert(submitted, by=approver, send_at=submitted.expires_at - datetime.timedelta(minutes=1))
    assert submitted.state == S.SCHEDULED


# --- never started late -----------------------------------------------------------------


def test_a_scheduled_alert_that_expires_before_it_is_due_ends_aborted_with_nothing_sent(
    submitted: Alert, approver, django_capture_on_commit_callbacks
) -> None:
    send_at = submitted.expires_at - datetime.timedelta(minutes=10)
    approve_alert(submitted, by=approver, send_at=send_at)
    # The beat (or its workers) were down from before the send time until after the expiry.
    late = submitted.expires_at + datetime.timedelta(seconds=1)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert start_due_alerts(now=late) == []
    assert callbacks == []
    submitted.refresh_from_db()
    assert submitted.state == S.ABORTED
    assert submitted.aborted_by is None and submitted.started_at is None
    assert submitted.aborted_at == late and submitted.finished_at == late
    assert not submitted.deliveries.exists()
    entry = AuditEntry.objects.get(action="expire_alert", object_id=str(submitted.pk))
    assert entry.actor is None and entry.before["state"] == S.SCHEDULED and entry.after["state"] == S.ABORTED
    # A start queued before the expiry and run after it does nothing either.
    report = start_fan_out(submitted.pk)
    assert not report.started and report.queued == 0
    assert AuditEntry.objects.filter(action="expire_alert").count() == 1


def test_an_alert_approved_to_send_at_once_whose_fan_out_runs_after_the_expiry_sends_nothing(
    sending, submitted: Alert, approver, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        approve_alert(submitted, by=approver)
    assert callbacks  # the fan-out was queued...
    Alert.objects.filter(pk=submitted.pk).update(expires_at=ago(seconds=1))  # ...and the queue was slow
    with django_capture_on_commit_callbacks(execute=True):
        for callback in callbacks:
            callback()
    submitted.refresh_from_db()
    assert submitted.state == S.ABORTED and not submitted.deliveries.exists()
    assert accepted(sending, "sms") == [] and accepted(sending, "email") == []
    assert AuditEntry.objects.filter(action="expire_alert", object_id=str(submitted.pk)).exists()


def test_an_alert_not_yet_due_and_already_expired_does_not_wait_for_its_send_time(submitted: Alert, approver) -> None:
    """An alert approved before send times were checked against the expiry."""
    approve_alert(submitted, by=approver, send_at=ahead(minutes=30))
    Alert.objects.filter(pk=submitted.pk).update(expires_at=ago(seconds=1))
    assert start_due_alerts() == []
    submitted.refresh_from_db()
    assert submitted.state == S.ABORTED


def test_an_unexpired_scheduled_alert_is_still_started(submitted: Alert, approver) -> None:
    approve_alert(submitted, by=approver, send_at=ahead(minutes=5))
    assert start_due_alerts(now=ahead(minutes=6)) == [submitted.pk]
    submitted.refresh_from_db()
    assert submitted.state == S.SCHEDULED  # queued; the task moves it on
    assert not AuditEntry.objects.filter(action="expire_alert").exists()


# --- a fan-out under way ----------------------------------------------------------------


@pytest.fixture(params=["sql", "orm"])
def six_in_chunks_of_two(request, settings, monkeypatch) -> list:  # type: ignore[no-untyped-def]
    """Six people read two per chunk; the live fan-out in SQL (PostgreSQL) or through the ORM."""
    monkeypatch.setattr(fanout, "FIRST_CHUNK", 2)
    settings.ALERT_FANOUT_CHUNK = 2
    if request.param == "orm":
        monkeypatch.setattr(fanout, "_fan_out_in_sql", fanout._fan_out_orm)
    return [present(full_name=f"Person {i}") for i in range(6)]


def approved_expiring_in_an_hour(author, approver, afghanistan, capture) -> Alert:  # type: ignore[no-untyped-def]
    """A live alert to Afghanistan, expiring in an hour, approved (its fan-out not started)."""
    alert = submit_for_approval(make_alert(author, areas=[afghanistan], expires_at=ahead(hours=1)), by=author)
    with capture(execute=False):
        approve_alert(alert, by=approver)
    return alert


def before_each_queueing(monkeypatch, before) -> None:  # type: ignore[no-untyped-def]
    """Call ``before(n, alert_id)`` each time the fan-out queues send tasks (n = 1, 2, ...), then queue them."""
    real_queue = fanout.queue_send_tasks
    calls: list[str] = []

    def queue(alert_id: int, channel: str, ids: list[int]) -> int:
        calls.append(channel)
        before(len(calls), alert_id)
        return real_queue(alert_id, channel, ids)

    monkeypatch.setattr(fanout, "queue_send_tasks", queue)


def test_a_fan_out_resumed_after_the_expiry_creates_nothing_more_and_the_alert_ends(
    sending, afghanistan, author, approver, six_in_chunks_of_two, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    alert = approved_expiring_in_an_hour(author, approver, afghanistan, django_capture_on_commit_callbacks)
    real_queue = fanout.queue_send_tasks

    def dies_on_the_third_queueing(n: int, alert_id: int) -> None:
        if n == 3:  # first chunk: email + sms; then the email phase's first chunk
            raise RuntimeError("worker killed")

    before_each_queueing(monkeypatch, dies_on_the_third_queueing)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        start_fan_out(alert.pk)
    monkeypatch.setattr(fanout, "queue_send_tasks", real_queue)
    first_two = six_in_chunks_of_two[:2]
    assert sorted(accepted(sending, "sms")) == sorted(p.phone for p in first_two)
    created = Delivery.objects.filter(alert=alert).count()
    assert created == 4

    # The worker stays down past the lease and past the expiry; the sweep resumes the fan-out.
    Alert.objects.filter(pk=alert.pk).update(expires_at=ago(seconds=1), fanout_heartbeat_at=ago(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        report = sweep_deliveries()
    assert report.fanouts_resumed == [alert.pk]
    assert Delivery.objects.filter(alert=alert).count() == created  # nothing more created
    assert sorted(accepted(sending, "sms")) == sorted(p.phone for p in first_two)
    alert.refresh_from_db()
    assert alert.fanout_done_at is not None
    assert alert.state == S.SENT  # what went is final: the alert does not stay SENDING
    assert not AuditEntry.objects.filter(action="expire_alert").exists()  # it did start in time


def test_a_fan_out_running_when_the_expiry_passes_stops_creating_deliveries(
    sending, afghanistan, author, approver, six_in_chunks_of_two, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    alert = approved_expiring_in_an_hour(author, approver, afghanistan, django_capture_on_commit_callbacks)

    def the_expiry_passes_after_the_first_chunk(n: int, alert_id: int) -> None:
        if n == 2:  # the first chunk's email and SMS are queued
            Alert.objects.filter(pk=alert_id).update(expires_at=ago(seconds=1))

    before_each_queueing(monkeypatch, the_expiry_passes_after_the_first_chunk)
    with django_capture_on_commit_callbacks(execute=False):
        report = start_fan_out(alert.pk)
    assert report.started and report.expired and not report.finished
    assert Delivery.objects.filter(alert=alert).count() == 4  # the first chunk only
    alert.refresh_from_db()
    assert alert.state == S.SENDING and alert.fanout_done_at is not None
    # The sweep skips what still waits ("expired") and the alert ends.
    sweep_deliveries()
    alert.refresh_from_db()
    assert alert.state == S.SENT
    assert set(Delivery.objects.filter(alert=alert).values_list("state", "error_code")) == {(D.SKIPPED, "expired")}
