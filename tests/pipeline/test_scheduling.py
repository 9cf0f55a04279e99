"""Sending at a time: the alert waits in the database; beat starts it when due."""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.utils import timezone

from alerts.models import Alert
from alerts.services.alerts import approve_alert, start_due_alerts, submit_for_approval
from alerts.services.fanout import start_fan_out
from tests.pipeline.conftest import make_alert, present

pytestmark = pytest.mark.django_db


@pytest.fixture
def later_alert(afghanistan, author, approver, django_capture_on_commit_callbacks) -> Alert:
    present()
    alert = submit_for_approval(make_alert(author, areas=[afghanistan]), by=author)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        approve_alert(alert, by=approver, send_at=timezone.now() + datetime.timedelta(minutes=30))
    assert callbacks == []  # nothing queued for later: no Celery countdown
    return alert


def test_a_scheduled_alert_is_not_started_before_its_time(later_alert: Alert) -> None:
    assert later_alert.state == Alert.State.SCHEDULED
    assert start_due_alerts() == []
    assert start_fan_out(later_alert.pk).started is False
    later_alert.refresh_from_db()
    assert later_alert.state == Alert.State.SCHEDULED


def test_beat_starts_it_once_due(later_alert: Alert, django_capture_on_commit_callbacks) -> None:
    due = later_alert.send_at + datetime.timedelta(seconds=1)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert start_due_alerts(now=due) == [later_alert.pk]
    assert len(callbacks) == 1
    Alert.objects.filter(pk=later_alert.pk).update(send_at=timezone.now() - datetime.timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        start_due_alerts()
    later_alert.refresh_from_db()
    assert later_alert.state == Alert.State.SENT and later_alert.deliveries.count() == 2


def test_the_beat_schedule_runs_the_starter_and_the_sweep_every_few_seconds() -> None:
    tasks = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert tasks["alerts.tasks.start_due_alerts"] <= 10
    assert "alerts.tasks.sweep_deliveries" in tasks
