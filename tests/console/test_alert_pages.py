"""Alert pages: level change, compose, approval by a second person, progress, abort, corrections."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from alerts.console.permissions import Capability, Role, assign_role, can, can_approve
from alerts.models import Alert, AlertTemplate, AlertText, AuditEntry, Delivery, LevelChange, StaffTestRecipient
from tests.console.conftest import make_staff, sign_in
from tests.factories import AlertFactory, AreaFactory, CitizenFactory, DeliveryFactory, PresenceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def kabul():  # type: ignore[no-untyped-def]
    country = AreaFactory(country="AF", region="", name="Afghanistan", level=3)
    region = AreaFactory(country="AF", region="AF-KAB", name="Kabul", level=None)
    for _ in range(3):
        PresenceFactory(citizen=CitizenFactory())
    return {"country": country, "region": region}


def live_alert(
    author, areas, *, state=Alert.State.AWAITING_APPROVAL, level=None, sms="Leave Kabul now. {checkin_words}"
):  # type: ignore[no-untyped-def]
    alert = AlertFactory(created_by=author, live=True, state=state, advisory_level=level, title="Kabul: leave now")
    alert.areas.set(areas)
    AlertText.objects.create(alert=alert, language="en", sms_text=sms, email_subject="Leave now", email_body="Go.")
    return alert


def test_the_role_table_gives_each_role_only_its_own_powers(author, approver, administrator):
    assert can(author, Capability.COMPOSE) and can(author, Capability.CHANGE_LEVEL)
    assert not can(author, Capability.APPROVE) and not can(author, Capability.MANAGE_STAFF)
    assert can(approver, Capability.APPROVE) is False  # no second factor on this object yet
    approver.is_verified = lambda: True
    assert can(approver, Capability.APPROVE) and not can(approver, Capability.COMPOSE)
    administrator.is_verified = lambda: True
    assert can(administrator, Capability.MANAGE_STAFF) and not can(administrator, Capability.APPROVE)


def test_an_author_cannot_approve_their_own_live_alert_even_as_an_approver(kabul):
    both = make_staff(Role.AUTHOR, Role.APPROVER)
    alert = live_alert(both, [kabul["region"]])
    client = sign_in(Client(), both)
    detail = client.get(reverse("console:alert", args=[alert.pk])).content.decode()
    assert "another approver must approve it" in detail
    response = client.post(reverse("console:alert-approve", args=[alert.pk]), {"confirm": "on"})
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.state == Alert.State.AWAITING_APPROVAL
    assert not AuditEntry.objects.filter(action="approve_alert").exists()


def test_an_author_may_approve_their_own_test_alert_when_they_are_an_approver(kabul):
    both = make_staff(Role.AUTHOR, Role.APPROVER)
    both.is_verified = lambda: True
    alert = AlertFactory(created_by=both, state=Alert.State.AWAITING_APPROVAL)
    assert can_approve(both, alert)


def test_a_second_approver_approves_a_live_alert_and_it_is_audited(kabul, author, approver):
    alert = live_alert(author, [kabul["region"]])
    client = sign_in(Client(), approver)
    page = client.get(reverse("console:alert", args=[alert.pk])).content.decode()
    assert "Send LIVE to 3 people" in page and "Kabul" in page
    response = client.post(reverse("console:alert-approve", args=[alert.pk]), {"confirm": "on"})
    assert response.status_code == 302
    assert response["Location"] == reverse("console:alert-progress", args=[alert.pk])
    alert.refresh_from_db()
    assert alert.state == Alert.State.SCHEDULED
    assert alert.approved_by == approver
    entry = AuditEntry.objects.get(action="approve_alert", actor=approver)
    assert entry.before["state"] == "awaiting_approval" and entry.after["state"] == "scheduled"


def test_approval_needs_the_confirmation_ticked(kabul, author, approver):
    alert = live_alert(author, [kabul["region"]])
    sign_in(Client(), approver).post(reverse("console:alert-approve", args=[alert.pk]), {})
    alert.refresh_from_db()
    assert alert.state == Alert.State.AWAITING_APPROVAL


def test_an_approver_signed_in_without_two_factor_cannot_reach_approve(kabul, author, approver):
    alert = live_alert(author, [kabul["region"]])
    client = sign_in(Client(), approver, verified=False)
    response = client.post(reverse("console:alert-approve", args=[alert.pk]), {"confirm": "on"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("console:otp-verify"))
    assert client.get(reverse("console:approvals")).status_code == 302
    alert.refresh_from_db()
    assert alert.state == Alert.State.AWAITING_APPROVAL


def test_an_author_without_the_approver_role_is_forbidden_to_approve(kabul, author, author_client):
    other = make_staff(Role.AUTHOR, device=False)
    alert = live_alert(other, [kabul["region"]])
    assert author_client.post(reverse("console:alert-approve", args=[alert.pk]), {"confirm": "on"}).status_code == 403
    assert author_client.get(reverse("console:approvals")).status_code == 403


def test_an_approver_cannot_compose_or_change_levels(kabul, approver_client):
    assert approver_client.get(reverse("console:alert-new")).status_code == 403
    assert approver_client.get(reverse("console:change-level", args=[kabul["region"].pk])).status_code == 403


def test_changing_a_level_records_it_and_shows_the_drafted_alert(kabul, author, author_client):
    AlertTemplate.objects.create(
        level=4, language="en", sms_text="{area} is now level {level}: {level_name}.", email_subject="s", email_body="b"
    )
    response = author_client.post(
        reverse("console:change-level", args=[kabul["region"].pk]),
        {"level": "4", "reason": "Fighting near the airport"},
    )
    change = LevelChange.objects.get(area=kabul["region"])
    assert change.new_level == 4 and change.changed_by == author
    assert response.status_code == 302
    assert response["Location"] == reverse("console:alert", args=[change.drafted_alert_id])
    page = author_client.get(response["Location"]).content.decode()
    assert "Kabul is now level 4: Do not travel." in page
    assert "LIVE" in page
    entry = AuditEntry.objects.get(action="change_level")
    assert entry.before == {"level": None, "effective": 3}
    assert entry.after["level"] == 4 and entry.after["reason"] == "Fighting near the airport"


def test_a_level_change_without_a_reason_saves_nothing(kabul, author_client):
    response = author_client.post(
        reverse("console:change-level", args=[kabul["region"].pk]), {"level": "4", "reason": ""}
    )
    assert response.status_code == 200
    assert not LevelChange.objects.exists()
    assert not AuditEntry.objects.filter(action="change_level").exists()


def compose_data(**overrides):  # type: ignore[no-untyped-def]
    data = {
        "title": "Curfew tonight",
        "is_test": "test",
        "send_sms": "on",
        "send_email": "on",
        "fallback_language": "en",
        "category": "Safety",
        "urgency": "Immediate",
        "severity": "Severe",
        "certainty": "Likely",
        "response_type": "Shelter",
        "text-en-sms_text": "Curfew from 20:00. {checkin_words}",
        "text-en-email_subject": "Curfew tonight",
        "text-en-email_body": "Dear {name}, stay inside from 20:00.",
    }
    data.update(overrides)
    return data


def test_composing_saves_a_test_draft_with_its_texts_and_audits_it(kabul, author, author_client):
    response = author_client.post(reverse("console:alert-new"), compose_data(areas=[kabul["region"].pk]))
    assert response.status_code == 302
    alert = Alert.objects.get(title="Curfew tonight")
    assert alert.is_test and alert.state == Alert.State.DRAFT and alert.created_by == author
    assert alert.texts.get(language="en").sms_text.startswith("Curfew from 20:00")
    assert not alert.texts.filter(language="fa").exists()
    entry = AuditEntry.objects.get(action="create_alert")
    assert entry.after["texts"]["en"]["email_subject"] == "Curfew tonight"


def test_a_bad_placeholder_is_shown_and_nothing_is_saved(kabul, author_client):
    response = author_client.post(reverse("console:alert-new"), compose_data(**{"text-en-sms_text": "Hello {nmae}"}))
    assert response.status_code == 200
    assert "Unknown placeholder" in response.content.decode()
    assert not Alert.objects.exists()


def test_the_compose_page_shows_sms_segments_and_the_test_band(kabul, author, author_client):
    alert = AlertFactory(created_by=author, title="Dari test")
    AlertText.objects.create(alert=alert, language="fa", sms_text="از کابل خارج شوید")
    AlertText.objects.create(alert=alert, language="en", sms_text="Leave Kabul")
    page = author_client.get(reverse("console:alert", args=[alert.pk])).content.decode()
    assert "TEST — not sent to the public" in page
    assert 'class="mode-band mode-test"' in page
    assert "UCS-2" in page and "GSM-7" in page
    assert "TEST: Leave Kabul" in page  # the preview shows what recipients get


def test_a_live_alert_page_says_live_and_never_test(kabul, author, author_client):
    alert = live_alert(author, [kabul["region"]], state=Alert.State.DRAFT)
    page = author_client.get(reverse("console:alert", args=[alert.pk])).content.decode()
    assert 'class="mode-band mode-live"' in page
    assert "<strong>LIVE</strong>" in page
    assert "mode-band mode-test" not in page


def test_submitting_counts_the_audience_and_is_audited(kabul, author, author_client):
    alert = live_alert(author, [kabul["region"]], state=Alert.State.DRAFT)
    data = compose_data(is_test="live", areas=[kabul["region"].pk], title=alert.title, action="submit")
    response = author_client.post(reverse("console:alert", args=[alert.pk]), data)
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.state == Alert.State.AWAITING_APPROVAL
    assert alert.audience_summary["citizens"] == 3
    assert AuditEntry.objects.filter(action="submit_alert", object_id=str(alert.pk)).exists()
    assert AuditEntry.objects.filter(action="edit_alert", object_id=str(alert.pk)).exists()


def test_a_refused_submission_saves_none_of_the_edit(kabul, author, author_client):
    alert = live_alert(author, [kabul["region"]], state=Alert.State.DRAFT)
    data = compose_data(is_test="live", title="Changed title", action="submit")  # live, but no audience
    response = author_client.post(reverse("console:alert", args=[alert.pk]), data)
    assert response.status_code == 200
    alert.refresh_from_db()
    assert alert.title == "Kabul: leave now" and alert.state == Alert.State.DRAFT
    assert not AuditEntry.objects.filter(action="edit_alert").exists()


def test_editing_an_alert_awaiting_approval_takes_it_back_to_draft(kabul, author, author_client):
    alert = live_alert(author, [kabul["region"]])
    data = compose_data(is_test="live", areas=[kabul["region"].pk], title="Reworded", action="save")
    author_client.post(reverse("console:alert", args=[alert.pk]), data)
    alert.refresh_from_db()
    assert alert.title == "Reworded" and alert.state == Alert.State.DRAFT
    entry = AuditEntry.objects.get(action="edit_alert", object_id=str(alert.pk))
    assert (entry.before["title"], entry.after["title"]) == ("Kabul: leave now", "Reworded")
    assert (entry.before["state"], entry.after["state"]) == ("awaiting_approval", "draft")


def test_an_edit_of_the_cap_details_and_expiry_is_audited(kabul, author, author_client):
    """Urgency and severity decide whether unverified contacts may be included; the
    expiry when sending stops: a change to either leaves its trace."""
    alert = live_alert(author, [kabul["region"]], state=Alert.State.DRAFT)
    data = compose_data(
        is_test="live",
        areas=[kabul["region"].pk],
        title=alert.title,
        urgency="Expected",
        severity="Extreme",
        expires_at="2031-08-15T18:00",
        action="save",
    )
    assert author_client.post(reverse("console:alert", args=[alert.pk]), data).status_code == 302
    entry = AuditEntry.objects.get(action="edit_alert", object_id=str(alert.pk))
    assert (entry.before["severity"], entry.after["severity"]) == (alert.severity, "Extreme")
    assert entry.after["urgency"] == "Expected"
    assert entry.before["expires_at"] is None and entry.after["expires_at"].startswith("2031-08-15")


def test_a_lower_level_while_a_level_4_alert_is_live_warns(kabul, author, author_client):
    live = live_alert(author, [kabul["country"]], state=Alert.State.SENT, level=4)
    draft = live_alert(author, [kabul["region"]], state=Alert.State.DRAFT, level=2, sms="Kabul is level 2 now.")
    page = author_client.get(reverse("console:alert", args=[draft.pk])).content.decode()
    assert "Contradicts a live alert" in page
    assert f"#{live.pk}" in page


def test_all_clear_wording_while_a_level_4_alert_is_live_warns(kabul, author, author_client):
    live_alert(author, [kabul["region"]], state=Alert.State.SENDING, level=4)
    draft = live_alert(author, [kabul["region"]], state=Alert.State.DRAFT, sms="All clear: the danger has passed.")
    page = author_client.get(reverse("console:alert", args=[draft.pk])).content.decode()
    assert "reads as an all clear" in page


def test_a_cancellation_of_the_live_alert_does_not_warn(kabul, author, author_client):
    live = live_alert(author, [kabul["region"]], state=Alert.State.SENT, level=4)
    draft = live_alert(author, [kabul["region"]], state=Alert.State.DRAFT, sms="All clear.")
    draft.msg_type, draft.references = Alert.MsgType.CANCEL, live
    draft.save()
    page = author_client.get(reverse("console:alert", args=[draft.pk])).content.decode()
    assert "Contradicts a live alert" not in page


def test_a_matching_level_in_another_country_does_not_warn(kabul, author, author_client):
    live_alert(author, [kabul["region"]], state=Alert.State.SENT, level=4)
    pakistan = AreaFactory(country="PK", region="", name="Pakistan", level=1)
    draft = live_alert(author, [pakistan], state=Alert.State.DRAFT, level=1, sms="All clear in Pakistan.")
    page = author_client.get(reverse("console:alert", args=[draft.pk])).content.decode()
    assert "Contradicts a live alert" not in page


def test_abort_stops_what_has_not_gone_and_is_audited(kabul, author, approver_client, approver):
    alert = live_alert(author, [kabul["region"]], state=Alert.State.SENDING)
    DeliveryFactory.create_batch(2, alert=alert)
    DeliveryFactory(alert=alert, sent=True)
    response = approver_client.post(reverse("console:alert-abort", args=[alert.pk]))
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.state == Alert.State.ABORTED
    assert alert.deliveries.filter(state=Delivery.State.SKIPPED).count() == 2
    assert AuditEntry.objects.get(action="abort_alert", actor=approver).after == {"state": "aborted", "skipped": 2}


def test_one_click_prepares_the_cancellation_and_opens_it(kabul, author, author_client):
    alert = live_alert(author, [kabul["region"]], state=Alert.State.SENT, level=4)
    response = author_client.post(reverse("console:alert-correct", args=[alert.pk]), {"kind": "cancel"})
    cancellation = Alert.objects.get(references=alert, msg_type=Alert.MsgType.CANCEL)
    assert response["Location"] == reverse("console:alert", args=[cancellation.pk])
    assert cancellation.state == Alert.State.DRAFT
    assert AuditEntry.objects.filter(action="prepare_cancellation", object_id=str(cancellation.pk)).exists()


def test_the_progress_endpoint_counts_by_channel_and_state(kabul, author, author_client):
    alert = live_alert(author, [kabul["region"]], state=Alert.State.SENDING)
    alert.fanout_done_at = timezone.now()
    alert.save()
    DeliveryFactory.create_batch(3, alert=alert, delivered=True)
    DeliveryFactory(alert=alert)
    data = author_client.get(reverse("console:alert-progress-json", args=[alert.pk])).json()
    assert data["by_channel"]["sms"]["delivered"] == 3
    assert data["by_channel"]["sms"]["queued"] == 1
    assert (data["finished"], data["expected"], data["percent"]) == (3, 4, 75)
    page = author_client.get(reverse("console:alert-progress", args=[alert.pk])).content.decode()
    assert "75" in page and 'http-equiv="refresh"' in page


def test_history_shows_author_approver_audience_and_delivery_outcome(kabul, author, approver, author_client):
    alert = live_alert(author, [kabul["region"]], state=Alert.State.SENT)
    alert.approved_by = approver
    alert.audience_summary = {"citizens": 3, "people": 3}
    alert.save()
    DeliveryFactory.create_batch(2, alert=alert, delivered=True)
    DeliveryFactory(alert=alert, state=Delivery.State.FAILED, error_reason="unreachable")
    response = author_client.get(reverse("console:history"))
    row = next(r for r in response.context["rows"] if r["alert"].pk == alert.pk)
    assert dict((value, n) for _label, n, value in row["deliveries"])["delivered"] == 2
    assert row["delivery_total"] == 3
    body = response.content.decode()
    assert approver.username in body and author.username in body and "Leave Kabul now" in body


def test_the_audit_trail_can_be_filtered_by_action_and_person(author, author_client, approver):
    from alerts.console.audit import record_audit

    record_audit(author, "edit_alert", None, {"a": 1}, {"a": 2})
    record_audit(approver, "approve_alert", None, None, {"state": "scheduled"})
    response = author_client.get(reverse("console:audit"), {"action": "approve_alert"})
    entries = list(response.context["page"])
    assert [e.action for e in entries] == ["approve_alert"]
    response = author_client.get(reverse("console:audit"), {"actor": author.username})
    assert {e.action for e in response.context["page"]} == {"edit_alert"}


def test_approve_queue_lists_live_alerts_first(kabul, author, approver_client):
    StaffTestRecipient.objects.create(name="Desk", phone="+447700900001")
    test = AlertFactory(created_by=author, state=Alert.State.AWAITING_APPROVAL, title="A test")
    live = live_alert(author, [kabul["region"]])
    rows = approver_client.get(reverse("console:approvals")).context["rows"]
    assert [r["alert"].pk for r in rows] == [live.pk, test.pk]


def test_assigning_a_role_creates_the_group_when_missing(db):
    from django.contrib.auth.models import Group

    Group.objects.filter(name="author").delete()
    user = make_staff(device=False)
    assign_role(user, Role.AUTHOR)
    assert Group.objects.filter(name="author").exists()
    assert can(user, Capability.COMPOSE)


def test_withdrawing_a_draft_and_sending_one_back_are_audited(kabul, author, author_client, approver_client):
    draft = live_alert(author, [kabul["region"]], state=Alert.State.DRAFT)
    author_client.post(reverse("console:alert-withdraw", args=[draft.pk]))
    draft.refresh_from_db()
    assert draft.state == Alert.State.CANCELLED
    assert AuditEntry.objects.get(action="withdraw_alert").after == {"state": "cancelled"}

    waiting = live_alert(author, [kabul["region"]])
    approver_client.post(reverse("console:alert-return", args=[waiting.pk]))
    waiting.refresh_from_db()
    assert waiting.state == Alert.State.DRAFT
    assert AuditEntry.objects.get(action="return_alert").before == {"state": "awaiting_approval"}


def test_a_sent_alert_cannot_be_edited(kabul, author, author_client):
    sent = live_alert(author, [kabul["region"]], state=Alert.State.SENT)
    response = author_client.post(reverse("console:alert", args=[sent.pk]), compose_data(title="Rewritten history"))
    assert response.status_code == 403
    sent.refresh_from_db()
    assert sent.title == "Kabul: leave now"


def test_a_live_alert_only_for_a_region_the_draft_excludes_does_not_warn(kabul, author, author_client):
    """Nobody in an excluded region hears the draft, so it contradicts nothing said there."""
    live_alert(author, [kabul["region"]], state=Alert.State.SENT, level=4)
    draft = live_alert(author, [kabul["country"]], state=Alert.State.DRAFT, level=2, sms="Afghanistan is level 2.")
    page = author_client.get(reverse("console:alert", args=[draft.pk])).content.decode()
    assert "Contradicts a live alert" in page
    draft.excluded_areas.add(kabul["region"])
    page = author_client.get(reverse("console:alert", args=[draft.pk])).content.decode()
    assert "Contradicts a live alert" not in page


def test_the_progress_page_says_why_messages_were_not_sent_in_the_staff_s_language(kabul, author, author_client):
    alert = live_alert(author, [kabul["region"]], state=Alert.State.SENT)
    failed, skipped = Delivery.State.FAILED, Delivery.State.SKIPPED
    DeliveryFactory.create_batch(3, alert=alert, channel="sms", state=failed, error_code="21211")
    DeliveryFactory(alert=alert, channel="sms", state=failed, error_code="30005")
    DeliveryFactory(alert=alert, channel="sms", state=failed, error_code="attempts")  # retried to the limit
    DeliveryFactory.create_batch(2, alert=alert, channel="email", state=failed, error_code="5.1.1")
    DeliveryFactory(alert=alert, channel="email", state=failed, error_code="unknown")
    DeliveryFactory(alert=alert, channel="email", state=skipped, error_code="opted-out")
    DeliveryFactory(alert=alert, channel="sms", delivered=True)
    url = reverse("console:alert-progress", args=[alert.pk])

    rows = [(r.channel, r.label, r.count) for r in author_client.get(url).context["not_sent"]]
    assert rows[0] == ("sms", "Invalid phone number", 3)
    assert ("email", "Bounced by the mail server (5.1.1)", 2) in rows
    assert ("sms", "Unknown number, or no longer in service", 1) in rows  # as stored for the logs
    assert ("sms", "Gave up after every attempt", 1) in rows
    assert ("email", "Outcome unknown: may have been sent; not sent again unless an approver chooses to", 1) in rows
    assert ("email", "Opted out", 1) in rows
    assert len(rows) == 6  # the delivered one is not a reason
    page = author_client.get(url).content.decode()
    assert "Not sent or not delivered, by reason" in page and "Invalid phone number" in page

    dari = author_client.get(url, HTTP_ACCEPT_LANGUAGE="fa").content.decode()
    assert "Invalid phone number" not in dari
    from django.utils import translation

    with translation.override("fa"):
        from alerts.services.failures import reason_label

        assert reason_label("21211", failed) in dari


def test_the_progress_page_has_no_reasons_table_when_nothing_failed(kabul, author, author_client):
    alert = live_alert(author, [kabul["region"]], state=Alert.State.SENT)
    DeliveryFactory(alert=alert, channel="sms", delivered=True)
    page = author_client.get(reverse("console:alert-progress", args=[alert.pk])).content.decode()
    assert "by reason" not in page


def test_a_new_alert_from_a_levels_templates_gives_each_language_its_own_level_words(kabul, author_client):
    """The Dari text of a new alert started from level 4's templates said "سطح 4، Do not
    travel": the level's words were filled in the staff member's language for every text."""
    for language, sms in (("en", "{area}: level {level}, {level_name}."), ("fa", "{area}: سطح {level}، {level_name}.")):
        AlertTemplate.objects.create(level=4, language=language, sms_text=sms, email_subject="s", email_body="b")
    page = author_client.get(reverse("console:alert-new"), {"template": "4"}).content.decode()
    assert "{area}: level 4, Do not travel." in page
    assert "{area}: سطح 4، سفر نکنید." in page
    assert "Do not travel." not in page.split('name="text-fa-sms_text"', 1)[1].split("</textarea>", 1)[0]


def test_the_history_says_the_audience_in_words_not_as_a_dictionary(kabul, author, approver, author_client):
    alert = live_alert(author, [kabul["region"]], state=Alert.State.SENT)
    alert.approved_by = approver
    alert.audience_summary = {
        "test": False,
        "include_unverified": True,
        "computed_at": "2021-08-15T04:30:00+00:00",
        "citizens": 1200,
        "people": 3400,
        "addresses": {"sms": 1100, "email": 900},
        "unverified": {"citizens": 4, "addresses": {"sms": 4, "email": 3}},
    }
    alert.save()
    body = author_client.get(reverse("console:history")).content.decode()
    assert "3,400 people: 1,200 citizens (1,100 SMS, 900 emails) · unverified contacts included" in body
    assert "computed_at" not in body and "{'sms'" not in body


def test_console_help_texts_are_tied_to_their_fields_for_screen_readers(kabul, author_client):
    from tests.registrations.test_register import _dangling_descriptions

    for url in (
        reverse("console:login"),
        reverse("console:change-level", args=[kabul["region"].pk]),
        reverse("console:alert-new"),
    ):
        html = (author_client if url != reverse("console:login") else Client()).get(url).content.decode()
        assert "_helptext" in html, url
        assert _dangling_descriptions(html) == set(), url


def test_an_empty_text_says_whether_its_language_is_the_fallback(kabul, author, author_client):
    """English, the fallback, said "(no text: the fallback language is sent)": it is the one sent."""
    page = author_client.get(reverse("console:alert-new")).content.decode()
    english, dari = page.split('<details class="text-lang" lang="en"')[1].split('<details class="text-lang" lang="fa"')
    assert "(no text yet: this is the fallback language, it must be written)" in english
    assert "the fallback language is sent" not in english
    assert "(no text: the fallback language is sent)" in dari

    alert = live_alert(author, [kabul["region"]], state=Alert.State.DRAFT)  # English text only
    alert.fallback_language = "fa"
    alert.save()
    page = author_client.get(reverse("console:alert", args=[alert.pk])).content.decode()
    dari = page.split('<details class="text-lang" lang="fa"')[1].split("</summary>")[0]
    assert "(no text yet: this is the fallback language, it must be written)" in dari
