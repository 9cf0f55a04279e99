"""Erasure: a deleted citizen leaves nothing that names or reaches them, whichever way
the deletion came (self-service link, the Django admin's delete or its bulk action), and
the alerts they were sent keep their counts."""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command

from alerts.console.audit import record_audit
from alerts.models import AuditEntry, CheckIn, Delivery, InboundMessage, OutboxMessage
from alerts.services.progress import alert_progress
from registrations import services
from registrations.erasure import ErasureReport, erase_citizen
from registrations.models import Citizen, HouseholdMember, Presence, Verification
from tests.factories import (
    AlertFactory,
    CheckInFactory,
    CitizenFactory,
    DeliveryFactory,
    HouseholdMemberFactory,
    InboundMessageFactory,
    PresenceFactory,
)

pytestmark = pytest.mark.django_db

NAME = "Zarmina Qaderi"
CHILD = "Parwana Qaderi"
PHONE = "+93700111222"
OLD_PHONE = "+93799888777"  # the mobile she had before; she changed it on her manage page
EMAIL = "zarmina@example.org"
OLD_EMAIL = "zq.old@example.org"
EMERGENCY = "Hamid Qaderi"
EMERGENCY_PHONE = "+442079460077"
AIRPORT = "I am at the airport with my children, gate 3"
IDENTIFYING = (NAME, CHILD, PHONE, OLD_PHONE, EMAIL, OLD_EMAIL, EMERGENCY, EMERGENCY_PHONE, AIRPORT)


def everything_stored() -> str:
    """Every row of every table the project and Django keep, as text."""
    out = io.StringIO()
    call_command("dumpdata", stdout=out)
    return out.getvalue()


@pytest.fixture
def zarmina():
    """A citizen with something of hers in every place personal data is kept."""
    citizen = CitizenFactory(
        full_name=NAME,
        phone=PHONE,
        email=EMAIL,
        emergency_contact_name=EMERGENCY,
        emergency_contact_phone=EMERGENCY_PHONE,
    )
    PresenceFactory(citizen=citizen, city="Mazar-i-Sharif", region="AF-BAL")
    HouseholdMemberFactory(citizen=citizen, full_name=CHILD)
    for channel, address in (("sms", OLD_PHONE), ("sms", PHONE), ("email", OLD_EMAIL), ("email", EMAIL)):
        Verification.objects.create(citizen=citizen, channel=channel, address=address, expires_at=citizen.created_at)
    return citizen


@pytest.fixture
def someone_else():
    return CitizenFactory(full_name="Other Person", phone="+93700999000", email="other@example.org")


@pytest.fixture
def alert(zarmina, someone_else):
    """A live alert that reached both citizens: each outcome of hers, and his."""
    alert = AlertFactory(live=True, sending=True)
    DeliveryFactory(alert=alert, citizen=zarmina, channel="sms", address=OLD_PHONE, delivered=True)
    DeliveryFactory(alert=alert, citizen=zarmina, channel="sms", address=PHONE, sent=True)
    DeliveryFactory(
        alert=alert,
        citizen=zarmina,
        channel="email",
        address=EMAIL,
        state=Delivery.State.FAILED,
        error_code="bounce",
        error_reason=f"bounce: 550 5.1.1 <{EMAIL}>: Recipient address rejected",
    )
    DeliveryFactory(alert=alert, citizen=zarmina, channel="email", address=OLD_EMAIL)  # still queued
    DeliveryFactory(alert=alert, citizen=someone_else, channel="sms", sent=True)
    DeliveryFactory(alert=alert, citizen=someone_else, channel="email")
    return alert


@pytest.fixture
def messages_and_answers(zarmina, someone_else, alert):
    """What she texted (from her number, and from her old one before she registered it),
    her check-ins, and what the development outbox sent her."""
    linked = InboundMessageFactory(citizen=zarmina, from_number=PHONE, body=AIRPORT)
    InboundMessageFactory(citizen=None, from_number=OLD_PHONE, body=f"{AIRPORT} (sent before registering)")
    CheckInFactory(citizen=zarmina, source=CheckIn.Source.SMS, raw_text="SAFE", inbound_message=linked, alert=alert)
    CheckInFactory(citizen=zarmina, status=CheckIn.Status.NEEDS_ASSISTANCE)
    theirs = InboundMessageFactory(citizen=someone_else, body="his message")
    stranger = InboundMessageFactory(citizen=None, from_number="+93700555444", body="a stranger's message")
    for to, reference in ((PHONE, "delivery:1"), (OLD_EMAIL, ""), ("", f"manage:{zarmina.pk}")):
        OutboxMessage.objects.create(
            channel="sms",
            to=to or "+10000000000",
            body=f"Hello {NAME}",
            reference=reference,
            provider_message_id=to + reference,
        )
    kept_outbox = OutboxMessage.objects.create(
        channel="sms", to="+93700999000", body="Hello Other", provider_message_id="x"
    )
    return theirs, stranger, kept_outbox


@pytest.fixture
def old_records(zarmina, admin_user):
    """What staff work left naming her: an admin log entry (its change message names a
    household member's row) and an audit entry about her."""
    LogEntry.objects.create(
        user=admin_user,
        content_type=ContentType.objects.get_for_model(Citizen),
        object_id=str(zarmina.pk),
        object_repr=NAME,
        action_flag=2,
        change_message=f'[{{"changed": {{"name": "household member", "object": "{CHILD}", "fields": ["name"]}}}}]',
    )
    record_audit(admin_user, "looked_up_citizen", zarmina, None, {"phone": PHONE, "email": EMAIL})


def test_erasure_leaves_nothing_that_names_or_reaches_her(zarmina, alert, messages_and_answers, old_records):
    stored = everything_stored()
    assert all(text in stored for text in IDENTIFYING)  # the check below can see each of them

    services.delete_citizen(zarmina)

    stored = everything_stored()
    assert [text for text in IDENTIFYING if text in stored] == []
    assert not Citizen.objects.filter(pk=zarmina.pk).exists()
    assert Presence.objects.count() == 0 and HouseholdMember.objects.count() == 0
    assert Verification.objects.count() == 0
    assert CheckIn.objects.count() == 0
    assert not Delivery.objects.filter(address__in=[PHONE, OLD_PHONE, EMAIL, OLD_EMAIL]).exists()


def test_what_is_not_hers_stays(zarmina, someone_else, alert, messages_and_answers):
    theirs, stranger, kept_outbox = messages_and_answers
    his = {d.pk: (d.address, d.state) for d in Delivery.objects.filter(citizen=someone_else)}

    services.delete_citizen(zarmina)

    assert {d.pk: (d.address, d.state) for d in Delivery.objects.filter(citizen=someone_else)} == his
    assert set(InboundMessage.objects.values_list("pk", flat=True)) == {theirs.pk, stranger.pk}
    assert list(OutboxMessage.objects.values_list("pk", flat=True)) == [kept_outbox.pk]
    assert Citizen.objects.get() == someone_else


def test_the_alert_counts_still_add_up(zarmina, alert, messages_and_answers):
    before = alert_progress(alert)
    assert before["totals"]["queued"] == 2  # hers and his

    services.delete_citizen(zarmina)

    after = alert_progress(alert)
    assert after["total"] == before["total"] == 6
    for bucket in ("sent", "delivered", "failed"):
        assert after["totals"][bucket] == before["totals"][bucket], bucket
    # Her queued email will never be sent: skipped, "citizen removed", as the pipeline says.
    assert after["totals"]["queued"] == 1 and after["totals"]["skipped"] == before["totals"]["skipped"] + 1
    skipped = Delivery.objects.get(alert=alert, state=Delivery.State.SKIPPED)
    assert (skipped.error_code, skipped.error_reason, skipped.citizen_id) == ("removed", "citizen removed", None)
    erased = Delivery.objects.filter(alert=alert, citizen__isnull=True).order_by("pk")
    assert [d.address for d in erased] == [f"erased:{d.pk}" for d in erased]
    bounced = erased.get(state=Delivery.State.FAILED)
    assert bounced.error_reason == "bounce: 550 5.1.1 <[erased]>: Recipient address rejected"


def test_the_report_says_what_went(zarmina, alert, messages_and_answers, old_records):
    report = erase_citizen(zarmina)
    assert report.citizen_id == zarmina.pk
    assert (report.deliveries_unlinked, report.deliveries_skipped) == (4, 1)
    assert (report.inbound_messages, report.check_ins, report.verifications) == (2, 2, 4)
    assert report.outbox_messages == 3
    assert (report.admin_log_entries, report.audit_entries) == (1, 1)
    entry = LogEntry.objects.get()
    assert (entry.object_repr, entry.change_message) == (f"citizen #{zarmina.pk} (erased)", "")
    audit = AuditEntry.objects.get()
    assert (audit.action, audit.object_repr, audit.before, audit.after) == (
        "looked_up_citizen",
        f"citizen #{zarmina.pk} (erased)",
        None,
        None,
    )


def test_erasing_someone_already_gone_does_nothing(zarmina, alert):
    erase_citizen(zarmina)
    rows = sorted(Delivery.objects.values_list("pk", "address", "state"))
    assert erase_citizen(zarmina) == ErasureReport(citizen_id=zarmina.pk)  # a second click, two staff at once
    assert sorted(Delivery.objects.values_list("pk", "address", "state")) == rows


def test_a_message_from_a_number_she_held_stays_when_it_is_someone_elses(zarmina, someone_else):
    """Her old number now belongs to another citizen: what they sent from it is theirs."""
    InboundMessageFactory(citizen=zarmina, from_number=OLD_PHONE, body="hers, long ago")
    now_his = InboundMessageFactory(citizen=someone_else, from_number=OLD_PHONE, body="his, now")
    erase_citizen(zarmina)
    assert list(InboundMessage.objects.all()) == [now_his]


def test_it_is_all_or_nothing(zarmina, alert, messages_and_answers, old_records, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Citizen, "delete", fail)
    with pytest.raises(RuntimeError):
        erase_citizen(zarmina)
    assert Delivery.objects.filter(citizen=zarmina).count() == 4
    assert InboundMessage.objects.filter(body=AIRPORT).exists()
    assert LogEntry.objects.get().object_repr == NAME
    assert Verification.objects.count() == 4 and CheckIn.objects.count() == 2


def test_the_admin_delete_erases_without_logging_her_name(admin_client, zarmina, alert, messages_and_answers):
    page = admin_client.get(f"/admin/registrations/citizen/{zarmina.pk}/delete/")
    # Check-ins are read-only in the admin; permission to delete the citizen is enough.
    assert page.status_code == 200 and "Cannot delete" not in page.content.decode()

    response = admin_client.post(f"/admin/registrations/citizen/{zarmina.pk}/delete/", {"post": "yes"}, follow=True)

    assert response.status_code == 200
    assert not Citizen.objects.filter(pk=zarmina.pk).exists()
    assert NAME not in response.content.decode()
    entry = LogEntry.objects.get(action_flag=DELETION)
    assert (entry.object_id, entry.object_repr, entry.user.username) == (
        str(zarmina.pk),
        f"citizen #{zarmina.pk} (erased)",
        "admin",
    )
    stored = everything_stored()
    assert [text for text in IDENTIFYING if text in stored] == []


def test_the_admin_bulk_delete_erases_each_one(admin_client, zarmina, someone_else, alert, messages_and_answers):
    response = admin_client.post(
        "/admin/registrations/citizen/",
        {"action": "delete_selected", "_selected_action": [zarmina.pk, someone_else.pk], "post": "yes"},
        follow=True,
    )
    assert response.status_code == 200
    assert Citizen.objects.count() == 0
    assert Delivery.objects.filter(citizen__isnull=False).count() == 0
    assert Delivery.objects.exclude(address__startswith="erased:").count() == 0
    assert sorted(LogEntry.objects.values_list("object_repr", flat=True)) == sorted(
        f"citizen #{pk} (erased)" for pk in (zarmina.pk, someone_else.pk)
    )
    stored = everything_stored()
    assert [text for text in (*IDENTIFYING, "Other Person", "+93700999000") if text in stored] == []
    assert alert_progress(alert)["total"] == 6


def test_the_self_service_delete_erases(client, zarmina, alert, messages_and_answers):
    response = client.post(urlsplit(services.manage_url(zarmina)).path + "delete/")
    assert "deleted" in response.content.decode()
    stored = everything_stored()
    assert [text for text in IDENTIFYING if text in stored] == []
