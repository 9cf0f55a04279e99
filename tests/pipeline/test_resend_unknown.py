"""Staff may send again what ended "outcome unknown": email goes again, SMS is looked up
at the provider first and sent only if it does not have it. Through the real SDKs to the
loopback stub."""

from __future__ import annotations

import datetime
from collections import Counter

import pytest
from django.utils import timezone

from alerts.errors import AlertStateError
from alerts.models import Alert, Delivery
from alerts.services.alerts import abort_alert, resend_outcome_unknown
from tests.pipeline.conftest import accepted, present, send_through_stub
from tests.pipeline.test_sending import approved, fanned_out

pytestmark = pytest.mark.django_db
D = Delivery.State


@pytest.fixture
def sending(stub_providers, settings):
    return send_through_stub(stub_providers, settings, "8")


def _ended_unknown(*deliveries: Delivery) -> None:
    Delivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
        state=D.FAILED, error_code="unknown", error_reason="outcome unknown", attempts=5
    )


def test_email_goes_again_and_an_sms_the_provider_has_is_not_sent_twice(
    sending, afghanistan, author, approver, django_capture_on_commit_callbacks
) -> None:
    first, second = present(), present()
    alert = approved(author, approver, [afghanistan], django_capture_on_commit_callbacks)
    assert alert.state == Alert.State.SENT
    email = Delivery.objects.get(alert=alert, channel="email", address=first.email)
    sms = Delivery.objects.get(alert=alert, channel="sms", address=first.phone)
    _ended_unknown(email, sms)  # both had in fact reached the provider
    with django_capture_on_commit_callbacks(execute=True):
        again = resend_outcome_unknown(alert, by=approver)
    assert again == {"email": 1, "sms": 1}
    assert Counter(accepted(sending, "email"))[first.email] == 2  # email cannot be looked up
    assert Counter(accepted(sending, "sms"))[first.phone] == 1  # found at Twilio: not sent again
    assert Counter(accepted(sending, "sms"))[second.phone] == 1
    email.refresh_from_db()
    sms.refresh_from_db()
    assert email.state == D.SENT and sms.state == D.SENT and sms.provider_message_id
    alert.refresh_from_db()
    assert alert.state == Alert.State.SENT and alert.finished_at is not None  # final again


def test_an_sms_the_provider_never_had_is_sent_once(
    sending, afghanistan, author, approver, django_capture_on_commit_callbacks
) -> None:
    person = present(phone_only=True)
    alert = fanned_out(author, approver, [afghanistan], django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get(alert=alert)
    _ended_unknown(delivery)
    Alert.objects.filter(pk=alert.pk).update(state=Alert.State.SENT, finished_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        assert resend_outcome_unknown(alert, by=approver) == {"sms": 1}
    assert accepted(sending, "sms") == [person.phone]
    delivery.refresh_from_db()
    assert delivery.state == D.SENT


def test_nothing_unknown_changes_nothing(sending, afghanistan, author, approver, django_capture_on_commit_callbacks):
    present()
    alert = approved(author, approver, [afghanistan], django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        assert resend_outcome_unknown(alert, by=approver) == {}
    alert.refresh_from_db()
    assert alert.state == Alert.State.SENT


def test_not_for_an_aborted_or_expired_alert(
    sending, afghanistan, author, approver, django_capture_on_commit_callbacks
) -> None:
    present()
    alert = fanned_out(author, approver, [afghanistan], django_capture_on_commit_callbacks)
    _ended_unknown(*Delivery.objects.filter(alert=alert))
    Alert.objects.filter(pk=alert.pk).update(expires_at=timezone.now() - datetime.timedelta(minutes=1))
    with pytest.raises(AlertStateError, match="expired"):
        resend_outcome_unknown(alert, by=approver)
    Alert.objects.filter(pk=alert.pk).update(expires_at=None)
    abort_alert(alert, by=approver)
    with pytest.raises(AlertStateError):
        resend_outcome_unknown(alert, by=approver)
    assert set(Delivery.objects.filter(alert=alert).values_list("state", flat=True)) == {D.FAILED}
    assert sending.received() == []


@pytest.mark.django_db(transaction=True)
def test_an_alert_finishing_while_a_resend_commits_is_not_marked_sent_over_it(
    sending, afghanistan, author, approver, django_capture_on_commit_callbacks
) -> None:
    # The last send task's finish check waits for the alert's row, which a resend holds
    # while it makes final rows open again. Once the resend commits, the check must see
    # the rows it queued: an alert marked SENT over them leaves them unsent for ever.
    import threading

    import psycopg
    from django.db import connection

    from alerts.services.fanout import finish_alert_if_done

    present(email_only=True)
    alert = approved(author, approver, [afghanistan], django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get(alert=alert)
    _ended_unknown(delivery)
    Alert.objects.filter(pk=alert.pk).update(state=Alert.State.SENDING, finished_at=None)

    params = connection.get_connection_params()
    resend = psycopg.connect(
        host=params.get("host"),
        port=params.get("port"),
        user=params.get("user"),
        dbname=connection.settings_dict["NAME"],
    )
    finished: list[bool] = []
    try:
        # As resend_outcome_unknown does: lock the alert, queue the row again; not committed yet.
        resend.execute("SELECT id FROM alerts_alert WHERE id = %s FOR UPDATE", [alert.pk])
        resend.execute("UPDATE alerts_delivery SET state = 'queued', error_code = '' WHERE id = %s", [delivery.pk])

        def finish() -> None:
            try:
                finished.append(finish_alert_if_done(alert.pk))
            finally:
                connection.close()

        worker = threading.Thread(target=finish)
        worker.start()
        worker.join(0.5)
        assert worker.is_alive()  # waiting for the resend's lock
        resend.commit()
        worker.join(10)
    finally:
        resend.close()
    assert finished == [False]
    alert.refresh_from_db()
    assert alert.state == Alert.State.SENDING


def test_opt_out_wins_over_sending_again(sending, afghanistan, author, approver, django_capture_on_commit_callbacks):
    # Someone who opted out since the alert went out gets nothing more, resent or not.
    from registrations.models import Citizen

    person = present(email_only=True)
    alert = approved(author, approver, [afghanistan], django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get(alert=alert)
    _ended_unknown(delivery)
    Citizen.objects.filter(pk=person.pk).update(email_opted_out_at=timezone.now())
    received_before = len(sending.received("email"))
    with django_capture_on_commit_callbacks(execute=True):
        assert resend_outcome_unknown(alert, by=approver) == {"email": 1}
    assert len(sending.received("email")) == received_before
    delivery.refresh_from_db()
    assert delivery.state == D.SKIPPED
