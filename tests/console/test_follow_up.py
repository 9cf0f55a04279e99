"""From the board, one click drafts an alert to the people who have not answered."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from alerts.models import Alert, AuditEntry, CheckIn
from alerts.services.audience import audience_citizens
from alerts.services.followups import draft_follow_up
from tests.factories import AreaFactory, CheckInFactory, CitizenFactory, PresenceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def kabul():
    AreaFactory(country="AF", region="", name="Afghanistan", level=3)
    return AreaFactory(country="AF", region="AF-KAB", name="Kabul", level=4)


def person_in(region: str, language: str = "en"):
    citizen = CitizenFactory(preferred_language=language)
    PresenceFactory(citizen=citizen, country="AF", region=region)
    return citizen


def test_the_follow_up_reaches_only_people_without_an_answer(kabul, author):
    silent = person_in("AF-KAB", language="fa")
    safe = person_in("AF-KAB")
    CheckInFactory(citizen=safe, status=CheckIn.Status.SAFE)
    elsewhere = person_in("AF-HER")
    alert = draft_follow_up(kabul, by=author)
    assert list(audience_citizens(alert)) == [silent]
    assert elsewhere not in audience_citizens(alert)
    assert alert.state == Alert.State.DRAFT and not alert.is_test
    assert sorted(alert.texts.values_list("language", flat=True)) == ["en", "fa"]
    assert "{checkin_words}" in alert.texts.get(language="en").sms_text
    assert alert.audience_summary["citizens"] == 1


def test_answers_before_the_date_do_not_count(kabul, author):
    answered_long_ago = person_in("AF-KAB")
    old = CheckInFactory(citizen=answered_long_ago, status=CheckIn.Status.SAFE)
    CheckIn.objects.filter(pk=old.pk).update(created_at=timezone.now() - datetime.timedelta(days=10))
    alert = draft_follow_up(kabul, by=author, since=timezone.now() - datetime.timedelta(days=2))
    assert list(audience_citizens(alert)) == [answered_long_ago]


def test_the_board_button_drafts_it_and_opens_it(kabul, author, signed_in):
    person_in("AF-KAB")
    client = signed_in(author, verified=False)
    board = client.get(f"/console/areas/{kabul.pk}/board/").content.decode()
    assert "Ask the 1 person with no answer" in board
    response = client.post(f"/console/areas/{kabul.pk}/follow-up/")
    alert = Alert.objects.get(only_unanswered=True)
    assert response["Location"] == f"/console/alerts/{alert.pk}/"
    assert AuditEntry.objects.filter(action="draft_follow_up").count() == 1


def test_approvers_cannot_draft_a_follow_up(kabul, approver_client):
    person_in("AF-KAB")
    assert approver_client.post(f"/console/areas/{kabul.pk}/follow-up/").status_code == 403
    assert not Alert.objects.exists()
