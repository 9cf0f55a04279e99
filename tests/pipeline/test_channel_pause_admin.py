"""A paused channel in the Django admin: shown read-only, and tried again by hand once
the cause is fixed (runbook 4.1: before, viewing or clearing one took the shell)."""

from __future__ import annotations

from collections import Counter

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from alerts.console.permissions import Role
from alerts.models import AuditEntry, ChannelPause, Delivery
from alerts.services.alerts import approve_alert, submit_for_approval
from alerts.services.fanout import sweep_deliveries
from tests.console.conftest import make_staff, sign_in
from tests.pipeline.conftest import accepted, make_alert, present

pytestmark = pytest.mark.django_db
D = Delivery.State
CHANGELIST = reverse("admin:alerts_channelpause_changelist")


@pytest.fixture
def admin_client(db) -> Client:  # type: ignore[no-untyped-def]
    user = make_staff(Role.ADMINISTRATOR, username="ada.admin")
    user.is_superuser = True
    user.save(update_fields=["is_superuser"])
    return sign_in(Client(), user)


def _paused_email(stub_providers, settings, author, approver, area, callbacks):  # type: ignore[no-untyped-def]
    people = [present(full_name=f"Person {i}") for i in range(3)]
    good_key = settings.SENDGRID_API_KEY
    settings.SENDGRID_API_KEY = "SG.revoked-key.not-valid"
    alert = submit_for_approval(make_alert(author, areas=[area]), by=author)
    with callbacks(execute=True):
        approve_alert(alert, by=approver)
    assert ChannelPause.objects.get(channel="email").until > timezone.now()
    settings.SENDGRID_API_KEY = good_key  # the cause is fixed
    return alert, people


def test_the_admin_shows_a_paused_channel_read_only(
    stub_providers, settings, afghanistan, author, approver, admin_client, django_capture_on_commit_callbacks
) -> None:
    _paused_email(stub_providers, settings, author, approver, afghanistan, django_capture_on_commit_callbacks)
    page = admin_client.get(CHANGELIST)
    assert page.status_code == 200
    body = page.content.decode()
    assert "401" in body and "Resume now (try the provider again)" in body
    pause = ChannelPause.objects.get()
    assert admin_client.get(reverse("admin:alerts_channelpause_add")).status_code == 403
    assert admin_client.post(reverse("admin:alerts_channelpause_delete", args=[pause.pk])).status_code == 403


def test_resume_now_sends_the_waiting_messages_at_the_next_sweep_and_ends_the_pause(
    stub_providers, settings, afghanistan, author, approver, admin_client, django_capture_on_commit_callbacks
) -> None:
    alert, people = _paused_email(
        stub_providers, settings, author, approver, afghanistan, django_capture_on_commit_callbacks
    )
    emails = Delivery.objects.filter(alert=alert, channel="email")
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_deliveries().requeued == 0  # still paused: nothing goes before the action
    pause = ChannelPause.objects.get()

    response = admin_client.post(CHANGELIST, {"action": "try_again_now", "_selected_action": [pause.pk]})
    assert response.status_code == 302
    pause.refresh_from_db()
    assert pause.until <= timezone.now()  # not deleted: the first accepted message ends it
    entry = AuditEntry.objects.get(action="resume_channel_now")
    assert entry.actor_username == "ada.admin" and entry.after["deliveries_due"] == 3
    assert entry.before["code"] == "401"

    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_deliveries().requeued == 3
    got = Counter(accepted(stub_providers, "email"))
    assert sorted(got) == sorted(p.email for p in people) and set(got.values()) == {1}
    assert set(emails.values_list("state", flat=True)) == {D.SENT}
    assert not ChannelPause.objects.exists()


def test_resume_now_while_still_refused_pauses_the_channel_again(
    stub_providers, settings, afghanistan, author, approver, admin_client, django_capture_on_commit_callbacks
) -> None:
    alert, _people = _paused_email(
        stub_providers, settings, author, approver, afghanistan, django_capture_on_commit_callbacks
    )
    settings.SENDGRID_API_KEY = "SG.revoked-key.not-valid"  # not fixed after all
    pause = ChannelPause.objects.get()
    admin_client.post(CHANGELIST, {"action": "try_again_now", "_selected_action": [pause.pk]})
    with django_capture_on_commit_callbacks(execute=True):
        sweep_deliveries()
    renewed = ChannelPause.objects.get()
    assert renewed.until > timezone.now() and renewed.refusals == 2
    emails = Delivery.objects.filter(alert=alert, channel="email")
    assert {(d.state, d.attempts) for d in emails} == {(D.RETRY, 0)}


def test_staff_without_the_second_factor_reach_no_paused_channel(approver, db) -> None:
    user = make_staff(Role.ADMINISTRATOR, username="ada.admin")
    user.is_superuser = True
    user.save(update_fields=["is_superuser"])
    client = sign_in(Client(), user, verified=False)
    response = client.post(CHANGELIST, {"action": "try_again_now", "_selected_action": ["1"]})
    assert response.status_code == 302
    assert not AuditEntry.objects.filter(action="resume_channel_now").exists()
