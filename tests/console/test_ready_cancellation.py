"""A ready cancellation (drafted when a live alert is approved) reads as prepared and not
sent wherever staff see alerts: its stored title "Cancelled: ..." at the top of the
history under a red LIVE band read as "the evacuation alert was cancelled"."""

from __future__ import annotations

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from alerts.models import Alert
from alerts.services.alerts import prepare_cancellation, submit_for_approval
from tests.console.test_alert_pages import live_alert
from tests.factories import AreaFactory

pytestmark = pytest.mark.django_db
S = Alert.State


@pytest.fixture
def jowzjan():  # type: ignore[no-untyped-def]
    return AreaFactory(country="AF", region="AF-JOW", name="Jowzjan", level=4)


def made_at(alert: Alert, minutes_ago: int) -> Alert:
    Alert.objects.filter(pk=alert.pk).update(created_at=timezone.now() - datetime.timedelta(minutes=minutes_ago))
    alert.refresh_from_db()
    return alert


def card(page: str, alert: Alert) -> str:
    """The history's card of ``alert``."""
    match = re.search(rf'<article [^>]*id="alert-{alert.pk}".*?</article>', page, re.S)
    assert match, f"no card for alert #{alert.pk}"
    return match.group(0)


@pytest.fixture
def evacuation(jowzjan, author, approver):  # type: ignore[no-untyped-def]
    """A sent live alert, approved by ``approver``, with its ready cancellation."""
    alert = made_at(live_alert(author, [jowzjan], state=S.SENT, level=4), 30)
    alert.title = "Jowzjan and Nimruz: leave now"
    alert.approved_by = approver
    alert.save()
    return alert, prepare_cancellation(alert, by=approver)


def test_the_history_lists_a_ready_cancellation_under_its_alert_saying_it_was_not_sent(
    evacuation, jowzjan, author, author_client
):
    alert, cancellation = evacuation
    newer = made_at(live_alert(author, [jowzjan], state=S.SENT, level=4), 5)
    page = author_client.get(reverse("console:history")).content.decode()

    # Newest real alert first, then the evacuation alert, then (although newer) its cancellation.
    assert page.index(f'id="alert-{newer.pk}"') < page.index(f'id="alert-{alert.pk}"')
    assert page.index(f'id="alert-{alert.pk}"') < page.index(f'id="alert-{cancellation.pk}"')

    ready = card(page, cancellation)
    assert "Ready cancellation — not sent" in ready
    assert f"Prepared in case alert #{alert.pk} must be cancelled" in ready
    assert f"Cancellation of #{alert.pk} “Jowzjan and Nimruz: leave now”" in ready
    assert "mode-band" not in ready and "Goes to the public" not in ready
    # The stored title, what recipients would get, is shown as such and left as it was.
    assert "Title if sent: <q>Cancelled: Jowzjan and Nimruz: leave now</q>" in ready
    assert Alert.objects.get(pk=cancellation.pk).title == "Cancelled: Jowzjan and Nimruz: leave now"
    assert reverse("console:alert", args=[cancellation.pk]) in ready

    # The alert's own card points to it in words.
    original = card(page, alert)
    assert f"ready, not sent (draft #{cancellation.pk})" in original
    assert reverse("console:alert", args=[cancellation.pk]) in original
    assert "mode-band mode-live" in original


def test_filtered_to_drafts_the_ready_cancellation_still_says_what_it_is(evacuation, author_client):
    alert, cancellation = evacuation
    page = author_client.get(reverse("console:history"), {"state": "draft"}).content.decode()
    assert f'id="alert-{alert.pk}"' not in page
    assert "Ready cancellation — not sent" in card(page, cancellation)


def test_a_cancellation_submitted_for_approval_is_listed_as_an_alert_again(evacuation, author, author_client):
    alert, cancellation = evacuation
    submit_for_approval(cancellation, by=author)
    page = author_client.get(reverse("console:history")).content.decode()
    assert page.index(f'id="alert-{cancellation.pk}"') < page.index(f'id="alert-{alert.pk}"')
    submitted = card(page, cancellation)
    assert "Ready cancellation" not in submitted
    assert "Goes to the public once approved." in submitted  # not yet approved: not "Goes to the public."
    assert "ready, not sent" not in card(page, alert)


def test_a_live_alert_not_yet_approved_says_it_goes_to_the_public_once_approved(jowzjan, author, author_client):
    draft = live_alert(author, [jowzjan], state=S.DRAFT)
    sent = live_alert(author, [jowzjan], state=S.SENT)
    history = author_client.get(reverse("console:history")).content.decode()
    assert "<span>Goes to the public once approved.</span>" in card(history, draft)
    assert "<span>Goes to the public.</span>" in card(history, sent)
    detail = author_client.get(reverse("console:alert", args=[draft.pk])).content.decode()
    assert "<strong>LIVE</strong> <span>Goes to the public once approved.</span>" in detail


def test_the_alert_page_points_to_its_ready_cancellation_and_that_page_says_it_is_not_sent(evacuation, approver_client):
    alert, cancellation = evacuation
    page = approver_client.get(reverse("console:alert", args=[alert.pk])).content.decode()
    assert f"A cancellation of this alert is ready, not sent (draft #{cancellation.pk})." in page
    assert f'href="{reverse("console:alert", args=[cancellation.pk])}">Review or send it' in page

    own = approver_client.get(reverse("console:alert", args=[cancellation.pk])).content.decode()
    assert "Ready cancellation — not sent" in own
    assert "<h1>Cancelled: Jowzjan and Nimruz: leave now</h1>" in own  # the title as recipients would get it


def test_the_correct_section_lists_the_ready_cancellation_as_a_draft_not_sent(evacuation, author_client):
    alert, cancellation = evacuation
    page = author_client.get(reverse("console:alert", args=[alert.pk])).content.decode()
    assert f"#{cancellation.pk} Cancel: Cancelled: Jowzjan and Nimruz: leave now</a> (draft, not sent)" in page
