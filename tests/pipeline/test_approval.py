"""Submit, two-person approval, cancel, abort: the alert's state machine."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from alerts.errors import AlertContentError, AlertStateError, ApprovalError
from alerts.models import Alert
from alerts.services.alerts import (
    abort_alert,
    approve_alert,
    cancel_alert,
    prepare_cancellation,
    return_to_draft,
    submit_for_approval,
)
from tests.factories import StaffTestRecipientFactory, UserFactory
from tests.pipeline.conftest import make_alert, present

pytestmark = pytest.mark.django_db
S = Alert.State


@pytest.fixture
def submitted(afghanistan, author) -> Alert:
    present()
    return submit_for_approval(make_alert(author, areas=[afghanistan]), by=author)


def test_submit_counts_the_audience_and_waits(submitted: Alert) -> None:
    assert submitted.state == S.AWAITING_APPROVAL and submitted.submitted_at
    assert submitted.audience_summary["citizens"] == 1
    assert submitted.audience_summary["addresses"] == {"sms": 1, "email": 1}


def test_submit_refuses_an_alert_without_fallback_text_or_audience(author) -> None:
    alert = make_alert(author, texts={"fa": {"sms_text": "x", "email_subject": "y", "email_body": "z"}})
    with pytest.raises(AlertContentError) as caught:
        submit_for_approval(alert, by=author)
    problems = " ".join(caught.value.problems)
    assert "fallback language (en)" in problems and "Choose who receives it" in problems
    alert.refresh_from_db()
    assert alert.state == S.DRAFT


def test_submit_refuses_bad_placeholders_written_around_the_form(afghanistan, author) -> None:
    alert = make_alert(
        author, areas=[afghanistan], texts={"en": {"sms_text": "{nme}", "email_subject": "s", "email_body": "b"}}
    )
    with pytest.raises(AlertContentError, match="Unknown placeholder"):
        submit_for_approval(alert, by=author)


def test_author_cannot_approve_own_live_alert(submitted: Alert, author) -> None:
    with pytest.raises(ApprovalError, match="second staff member"):
        approve_alert(submitted, by=author)
    submitted.refresh_from_db()
    assert submitted.state == S.AWAITING_APPROVAL and submitted.approved_by is None


def test_only_holders_of_the_approver_role_can_approve(submitted: Alert) -> None:
    with pytest.raises(ApprovalError, match="approver role"):
        approve_alert(submitted, by=UserFactory(is_staff=True))
    submitted.refresh_from_db()
    assert submitted.state == S.AWAITING_APPROVAL


def test_a_second_staff_member_approves_and_the_fan_out_waits_for_commit(
    submitted: Alert, approver, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        approve_alert(submitted, by=approver)
    assert submitted.state == S.SCHEDULED and submitted.approved_by == approver
    assert len(callbacks) == 1  # the fan-out is queued only once the approval commits
    cancellation = submitted.corrections.get()
    assert cancellation.msg_type == Alert.MsgType.CANCEL and cancellation.state == S.DRAFT
    assert cancellation.references == submitted and not cancellation.is_test
    assert "disregard" in cancellation.texts.get(language="en").sms_text


def test_the_author_may_approve_their_own_test_alert(afghanistan, author) -> None:
    StaffTestRecipientFactory()
    alert = submit_for_approval(make_alert(author, areas=[afghanistan], live=False), by=author)
    approve_alert(alert, by=author)
    assert alert.state == S.SCHEDULED
    assert not alert.corrections.exists()  # test alerts need no ready cancellation


def test_include_unverified_only_for_an_urgent_live_alert(afghanistan, author, approver) -> None:
    present()
    calm = make_alert(author, areas=[afghanistan], urgency=Alert.Urgency.FUTURE, severity=Alert.Severity.MINOR)
    submit_for_approval(calm, by=author)
    with pytest.raises(ApprovalError, match="urgent"):
        approve_alert(calm, by=approver, include_unverified=True)
    StaffTestRecipientFactory()
    test = submit_for_approval(make_alert(author, areas=[afghanistan], live=False), by=author)
    with pytest.raises(ApprovalError, match="Test alerts"):
        approve_alert(test, by=approver, include_unverified=True)
    urgent = submit_for_approval(make_alert(author, areas=[afghanistan]), by=author)
    approve_alert(urgent, by=approver, include_unverified=True)
    assert urgent.include_unverified and urgent.audience_summary["include_unverified"]


def test_state_errors_name_the_state(submitted: Alert, author, approver) -> None:
    with pytest.raises(AlertStateError, match="awaiting approval"):
        submit_for_approval(submitted, by=author)
    return_to_draft(submitted, by=approver)
    with pytest.raises(AlertStateError):
        approve_alert(submitted, by=approver)
    with pytest.raises(AlertStateError):
        abort_alert(submitted, by=approver)
    cancel_alert(submitted, by=author)
    assert submitted.state == S.CANCELLED
    with pytest.raises(AlertStateError):
        submit_for_approval(submitted, by=author)


def test_scheduled_alert_can_be_aborted_before_it_starts(submitted: Alert, approver) -> None:
    approve_alert(submitted, by=approver, send_at=timezone.now() + datetime.timedelta(hours=1))
    assert abort_alert(submitted, by=approver) == 0
    assert submitted.state == S.ABORTED and submitted.aborted_by == approver


def test_prepare_cancellation_is_idempotent(submitted: Alert, approver) -> None:
    first = prepare_cancellation(submitted, by=approver)
    assert prepare_cancellation(submitted, by=approver) == first


def test_approving_while_redis_is_down_approves_and_the_alert_starts_once_it_is_back(
    afghanistan, author, approver, redis_down, django_capture_on_commit_callbacks, caplog
) -> None:
    # The approver must not get an error page for an alert that is approved and committed:
    # beat's start_due_alerts starts it when the broker answers.
    from alerts.models import Alert
    from alerts.services.alerts import approve_alert, start_due_alerts, submit_for_approval
    from tests.pipeline.conftest import make_alert, present

    present()
    alert = submit_for_approval(make_alert(author, areas=[afghanistan]), by=author)
    with django_capture_on_commit_callbacks(execute=True):
        approve_alert(alert, by=approver)
    alert.refresh_from_db()
    assert alert.state == Alert.State.SCHEDULED and alert.approved_by == approver
    assert "its fan-out could not be queued" in caplog.text

    redis_down.up()
    with django_capture_on_commit_callbacks(execute=True):
        assert start_due_alerts() == [alert.pk]
    alert.refresh_from_db()
    assert alert.state in (Alert.State.SENDING, Alert.State.SENT)
