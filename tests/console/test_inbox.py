"""Staff read the SMS that were not keywords, and mark them dealt with."""

from __future__ import annotations

import pytest

from alerts.models import AuditEntry, InboundMessage
from tests.factories import InboundMessageFactory

pytestmark = pytest.mark.django_db


def test_staff_see_open_messages_kept_for_them_and_not_keywords(author_client):
    InboundMessageFactory(body="We are 6 people at the Serena hotel, no car", citizen__full_name="Sara Ahmadi")
    InboundMessageFactory(body="SAFE", kind=InboundMessage.Kind.CHECK_IN)
    InboundMessageFactory(body="who is this?", citizen=None)
    html = author_client.get("/console/messages/").content.decode()
    assert "We are 6 people at the Serena hotel" in html and "Sara Ahmadi" in html
    assert "who is this?" in html and "Unknown number" in html
    assert ">SAFE<" not in html


def test_marking_a_message_dealt_with_hides_it_and_is_audited(author_client):
    message = InboundMessageFactory(body="Need a car to the airport")
    response = author_client.post(f"/console/messages/{message.pk}/handled/")
    assert response.status_code == 302
    message.refresh_from_db()
    assert message.handled_at is not None
    assert "Need a car" not in author_client.get("/console/messages/").content.decode()
    assert "Need a car" in author_client.get("/console/messages/?show=all").content.decode()
    assert AuditEntry.objects.filter(action="inbox_handled").count() == 1


def test_approvers_read_but_do_not_mark(approver_client):
    message = InboundMessageFactory(body="help us")
    assert approver_client.get("/console/messages/").status_code == 200
    assert approver_client.post(f"/console/messages/{message.pk}/handled/").status_code == 403
    message.refresh_from_db()
    assert message.handled_at is None


def test_the_staff_test_list_is_kept_in_the_admin(admin_client):
    response = admin_client.post(
        "/admin/alerts/stafftestrecipient/add/",
        {"name": "Duty officer", "phone": "+447700900001", "email": "", "language": "en", "active": "on"},
    )
    assert response.status_code == 302
    assert admin_client.get("/admin/alerts/delivery/add/").status_code == 403


def test_an_empty_inbox_says_so_in_a_sentence_not_as_a_numbered_item(author_client):
    html = author_client.get("/console/messages/").content.decode()
    assert '<p class="inbox-empty">No messages waiting.</p>' in html
    assert '<ol class="inbox">' not in html and "<li>No messages waiting." not in html
