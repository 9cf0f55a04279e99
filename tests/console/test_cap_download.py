"""An approved alert's CAP 1.2 document is downloaded from its console page."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from alerts.models import Alert, AlertText
from tests.console.conftest import make_staff, sign_in
from tests.factories import AlertFactory, AreaFactory, UserFactory

pytestmark = pytest.mark.django_db
S = Alert.State


def alert_in(state, **fields):  # type: ignore[no-untyped-def]
    approved = state in (S.SCHEDULED, S.SENDING, S.SENT, S.ABORTED)
    alert = AlertFactory(state=state, is_test=False, approved_at=timezone.now() if approved else None, **fields)
    alert.areas.set([AreaFactory(country="AF", region="AF-KAB", name="Kabul", level=4)])
    AlertText.objects.create(alert=alert, language="en", sms_text="Leave {area} now.", email_subject="Leave now")
    return alert


@pytest.mark.parametrize("state", [S.SCHEDULED, S.SENDING, S.SENT, S.ABORTED])
def test_any_console_user_downloads_an_approved_alerts_cap_document(author_client, state):
    alert = alert_in(state)
    response = author_client.get(reverse("console:alert-cap", args=[alert.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/cap+xml; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="cap-alert-{alert.pk}.xml"'
    body = response.content.decode()
    assert "<status>Actual</status>" in body and "<areaDesc>Kabul</areaDesc>" in body


def test_the_alert_page_links_to_the_document_once_approved(author_client):
    alert = alert_in(S.SENT)
    page = author_client.get(reverse("console:alert", args=[alert.pk])).content.decode()
    assert reverse("console:alert-cap", args=[alert.pk]) in page and "CAP 1.2 (XML)" in page
    draft = alert_in(S.DRAFT)
    page = author_client.get(reverse("console:alert", args=[draft.pk])).content.decode()
    assert reverse("console:alert-cap", args=[draft.pk]) not in page


@pytest.mark.parametrize("state", [S.DRAFT, S.AWAITING_APPROVAL, S.CANCELLED])
def test_an_alert_not_approved_has_no_document_to_download(author_client, state):
    alert = alert_in(state)
    assert author_client.get(reverse("console:alert-cap", args=[alert.pk])).status_code == 404


def test_a_missing_alert_is_404(author_client):
    assert author_client.get(reverse("console:alert-cap", args=[999999])).status_code == 404


def test_a_test_alerts_document_says_status_test(author_client):
    alert = alert_in(S.SENT)
    Alert.objects.filter(pk=alert.pk).update(is_test=True)
    response = author_client.get(reverse("console:alert-cap", args=[alert.pk]))
    assert response["Content-Disposition"] == f'attachment; filename="cap-test-alert-{alert.pk}.xml"'
    assert "<status>Test</status>" in response.content.decode()
    page = author_client.get(reverse("console:alert", args=[alert.pk])).content.decode()
    assert "status Test" in page


def test_only_console_staff_may_download(client):
    alert = alert_in(S.SENT)
    url = reverse("console:alert-cap", args=[alert.pk])
    response = client.get(url)
    assert response.status_code == 302 and reverse("console:login") in response["Location"]
    no_role = sign_in(Client(), UserFactory(), verified=False)
    assert no_role.get(url).status_code == 403


def test_an_approver_without_the_second_factor_is_sent_to_verify_first():
    from alerts.console.permissions import Role

    approver = make_staff(Role.APPROVER)
    alert = alert_in(S.SENT)
    response = sign_in(Client(), approver, verified=False).get(reverse("console:alert-cap", args=[alert.pk]))
    assert response.status_code == 302 and reverse("console:otp-verify") in response["Location"]
    verified = sign_in(Client(), approver).get(reverse("console:alert-cap", args=[alert.pk]))
    assert verified.status_code == 200
