"""The progress page offers approvers to send again what ended "outcome unknown", says
what that risks, and records who decided."""

from __future__ import annotations

import pytest
from django.urls import reverse

from alerts.models import Alert, AuditEntry, Delivery
from tests.console.test_alert_pages import kabul, live_alert  # noqa: F401 (fixture)
from tests.factories import DeliveryFactory

pytestmark = pytest.mark.django_db


def _sent_with_unknown(author, area, unknown: int = 2) -> Alert:  # type: ignore[no-untyped-def]
    alert = live_alert(author, [area], state=Alert.State.SENT)
    DeliveryFactory(alert=alert, sent=True)
    for _ in range(unknown):
        DeliveryFactory(
            alert=alert,
            channel="email",
            state=Delivery.State.FAILED,
            error_code="unknown",
            error_reason="outcome unknown",
        )
    return alert


def test_an_approver_is_offered_it_and_told_the_risk(kabul, author, approver_client):  # noqa: F811
    alert = _sent_with_unknown(author, kabul["region"])
    page = approver_client.get(reverse("console:alert-progress", args=[alert.pk])).content.decode()
    assert 'id="resend-unknown-form"' in page
    assert "Send again to the 2 whose outcome is unknown" in page and "second copy" in page


def test_an_author_is_not_offered_it_and_may_not_do_it(kabul, author, author_client):  # noqa: F811
    alert = _sent_with_unknown(author, kabul["region"])
    page = author_client.get(reverse("console:alert-progress", args=[alert.pk])).content.decode()
    assert "resend-unknown-form" not in page
    assert author_client.post(reverse("console:alert-resend-unknown", args=[alert.pk])).status_code == 403
    assert Delivery.objects.filter(alert=alert, error_code="unknown").count() == 2


def test_nothing_is_offered_without_an_unknown_outcome(kabul, author, approver_client):  # noqa: F811
    alert = _sent_with_unknown(author, kabul["region"], unknown=0)
    page = approver_client.get(reverse("console:alert-progress", args=[alert.pk])).content.decode()
    assert "resend-unknown-form" not in page


def test_sending_again_is_audited(kabul, author, approver, approver_client, django_capture_on_commit_callbacks):  # noqa: F811
    alert = _sent_with_unknown(author, kabul["region"])
    with django_capture_on_commit_callbacks(execute=False):  # the send tasks are not the point here
        response = approver_client.post(reverse("console:alert-resend-unknown", args=[alert.pk]), follow=True)
    assert "2 emails go again" in response.content.decode()
    alert.refresh_from_db()
    assert alert.state == Alert.State.SENDING
    assert Delivery.objects.filter(alert=alert, state=Delivery.State.QUEUED).count() == 2
    entry = AuditEntry.objects.get(action="resend_outcome_unknown", actor=approver)
    assert entry.before == {"state": "sent", "outcome_unknown": 2}
    assert entry.after == {"state": "sending", "email": 2}


def test_an_aborted_alert_is_refused_with_a_message(kabul, author, approver_client):  # noqa: F811
    alert = _sent_with_unknown(author, kabul["region"])
    Alert.objects.filter(pk=alert.pk).update(state=Alert.State.ABORTED)
    response = approver_client.post(reverse("console:alert-resend-unknown", args=[alert.pk]), follow=True)
    assert "Cannot send again an alert that is aborted" in response.content.decode()
    assert not AuditEntry.objects.filter(action="resend_outcome_unknown").exists()


def test_an_approver_who_wrote_the_live_alert_may_not_send_it_again(kabul, approver, approver_client):  # noqa: F811
    # Two people for a live alert: sending its messages again is no exception.
    alert = _sent_with_unknown(approver, kabul["region"])
    page = approver_client.get(reverse("console:alert-progress", args=[alert.pk])).content.decode()
    assert "resend-unknown-form" not in page
    assert approver_client.post(reverse("console:alert-resend-unknown", args=[alert.pk])).status_code == 403
    assert Delivery.objects.filter(alert=alert, error_code="unknown").count() == 2


def test_an_expired_or_aborted_alert_is_not_offered_it(kabul, author, approver_client):  # noqa: F811
    from django.utils import timezone

    alert = _sent_with_unknown(author, kabul["region"])
    progress = reverse("console:alert-progress", args=[alert.pk])
    Alert.objects.filter(pk=alert.pk).update(expires_at=timezone.now())
    assert "resend-unknown-form" not in approver_client.get(progress).content.decode()
    Alert.objects.filter(pk=alert.pk).update(expires_at=None, state=Alert.State.ABORTED)
    assert "resend-unknown-form" not in approver_client.get(progress).content.decode()
