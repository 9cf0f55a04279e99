"""The console says at once when an alert's expiry has passed, and why an expired one sent nothing."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from alerts.models import Alert, AlertText, AuditEntry
from alerts.services.fanout import end_expired_before_start
from tests.console.test_alert_pages import compose_data, live_alert
from tests.factories import AlertFactory, AreaFactory, CitizenFactory, PresenceFactory

pytestmark = pytest.mark.django_db
S = Alert.State


@pytest.fixture
def kabul():  # type: ignore[no-untyped-def]
    region = AreaFactory(country="AF", region="AF-KAB", name="Kabul", level=3)
    PresenceFactory(citizen=CitizenFactory())
    return {"region": region}


def typed(moment: datetime.datetime) -> str:
    """``moment`` as the page's date-and-time field sends it."""
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def test_the_compose_form_refuses_an_expiry_in_the_past_and_unfolds_it(kabul, author_client):
    past = timezone.now() - datetime.timedelta(hours=1)
    response = author_client.post(
        reverse("console:alert-new"), compose_data(areas=[kabul["region"].pk], expires_at=typed(past))
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "The expiry time" in page and "has passed" in page
    assert "<details open><summary>Level, language and CAP details" in page  # not hidden in a folded part
    assert not Alert.objects.exists()


def test_the_compose_form_accepts_an_expiry_ahead(kabul, author_client):
    later = timezone.now() + datetime.timedelta(hours=3)
    response = author_client.post(
        reverse("console:alert-new"), compose_data(areas=[kabul["region"].pk], expires_at=typed(later))
    )
    assert response.status_code == 302
    assert Alert.objects.get().expires_at is not None


def test_submitting_an_alert_whose_expiry_passed_shows_why_and_saves_nothing(kabul, author, author_client):
    alert = live_alert(author, [kabul["region"]], state=S.DRAFT)
    past = timezone.now() - datetime.timedelta(minutes=10)
    data = compose_data(is_test="live", areas=[kabul["region"].pk], expires_at=typed(past), action="submit")
    response = author_client.post(reverse("console:alert", args=[alert.pk]), data)
    assert response.status_code == 200
    assert "has passed" in response.content.decode()
    alert.refresh_from_db()
    assert alert.state == S.DRAFT and alert.expires_at is None
    assert not AuditEntry.objects.filter(action__in=["edit_alert", "submit_alert"]).exists()


def test_an_alert_that_expired_while_awaiting_approval_says_so_and_approving_it_is_refused(
    kabul, author, approver, approver_client
):
    alert = live_alert(author, [kabul["region"]])
    Alert.objects.filter(pk=alert.pk).update(expires_at=timezone.now() - datetime.timedelta(minutes=1))
    page = approver_client.get(reverse("console:alert", args=[alert.pk])).content.decode()
    assert "Before it can be approved:" in page and "has passed" in page

    response = approver_client.post(reverse("console:alert-approve", args=[alert.pk]), {"confirm": "on"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("console:alert", args=[alert.pk])
    flashed = [str(m) for m in response.context["messages"]]
    assert any("The alert cannot go out yet" in m and "has passed" in m for m in flashed)
    assert "has passed" in response.content.decode()
    alert.refresh_from_db()
    assert alert.state == S.AWAITING_APPROVAL and alert.approved_by is None
    assert not AuditEntry.objects.filter(action="approve_alert").exists()


def test_the_error_is_in_dari_for_dari_staff(kabul, author, approver, approver_client):
    alert = live_alert(author, [kabul["region"]])
    Alert.objects.filter(pk=alert.pk).update(expires_at=timezone.now() - datetime.timedelta(minutes=1))
    page = approver_client.get(reverse("console:alert", args=[alert.pk]), HTTP_ACCEPT_LANGUAGE="fa").content.decode()
    assert "has passed" not in page
    from django.utils import translation

    from alerts.services.alerts import content_problems

    alert.refresh_from_db()
    with translation.override("fa"):
        problem = content_problems(alert)[0]
    assert problem and problem in page


def test_an_alert_that_expired_before_sending_started_says_nothing_was_sent(kabul, author, approver, author_client):
    expires = timezone.now() - datetime.timedelta(minutes=1)
    alert = AlertFactory(created_by=author, live=True, state=S.SCHEDULED, approved_by=approver, expires_at=expires)
    AlertText.objects.create(alert=alert, language="en", sms_text="Go.", email_subject="Go", email_body="Go.")
    assert end_expired_before_start(timezone.now()) == [alert.pk]
    words = "Nothing was sent: the alert expired"
    assert words in author_client.get(reverse("console:alert-progress", args=[alert.pk])).content.decode()
    assert words in author_client.get(reverse("console:alert", args=[alert.pk])).content.decode()
    assert words in author_client.get(reverse("console:history")).content.decode()
    audit = author_client.get(reverse("console:audit")).content.decode()
    assert "expire_alert" in audit


def test_a_manual_abort_is_not_called_an_expiry(kabul, author, approver, author_client):
    alert = live_alert(author, [kabul["region"]], state=S.ABORTED)
    Alert.objects.filter(pk=alert.pk).update(
        aborted_by=approver, aborted_at=timezone.now(), expires_at=timezone.now() - datetime.timedelta(hours=1)
    )
    page = author_client.get(reverse("console:alert-progress", args=[alert.pk])).content.decode()
    assert "Nothing was sent: the alert expired" not in page
