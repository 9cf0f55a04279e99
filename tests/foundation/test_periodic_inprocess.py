"""The embedded default runs the beat schedule in-process (no broker, no celery beat)."""

from __future__ import annotations

import datetime

import pytest
from django.core.management import call_command
from django.utils import timezone

from alerts.models import Alert, WebhookEvent
from tests.factories import AlertFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_one_pass_starts_due_alerts_and_prunes_old_event_keys(settings):
    settings.SMS_BACKEND = "outbox"
    settings.EMAIL_BACKEND_NAME = "outbox"
    approver = UserFactory()
    due = AlertFactory(
        state=Alert.State.SCHEDULED,
        send_at=timezone.now() - datetime.timedelta(seconds=5),
        approved_by=approver,
        approved_at=timezone.now(),
    )
    old = WebhookEvent.objects.create(provider="sendgrid", event_id="old")
    WebhookEvent.objects.filter(pk=old.pk).update(received_at=timezone.now() - datetime.timedelta(days=8))
    WebhookEvent.objects.create(provider="sendgrid", event_id="new")

    call_command("run_periodic_inprocess", "--once")

    due.refresh_from_db()
    assert due.state != Alert.State.SCHEDULED  # started (and, with nobody in its audience, finished)
    assert list(WebhookEvent.objects.values_list("event_id", flat=True)) == ["new"]
