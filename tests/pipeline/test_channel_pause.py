"""A provider that refuses the embassy's own account pauses its channel; nothing is lost.

Through the real pipeline against the provider stub, whose credentials checks answer
as Twilio and SendGrid do (401 / Twilio 20003): the refused deliveries wait without
spending attempts, nothing more is tried on the channel until the pause ends, the
console and /healthz say so, and once the account is accepted again every message goes
out exactly once.
"""

from __future__ import annotations

import datetime
from collections import Counter

import pytest
from django.utils import timezone

from alerts.models import ChannelPause, Delivery
from alerts.services.alerts import approve_alert, submit_for_approval
from alerts.services.fanout import send_delivery_chunk, start_fan_out, sweep_deliveries
from tests.pipeline.conftest import accepted, make_alert, present

pytestmark = pytest.mark.django_db
D = Delivery.State


@pytest.fixture
def sending(stub_providers, settings):
    settings.SMS_RATE_PER_SECOND = 1000
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "6" * 32  # a limiter key of its own
    settings.DELIVERY_MAX_ATTEMPTS = 2
    return stub_providers


def _approve(author, approver, areas, callbacks):
    alert = submit_for_approval(make_alert(author, areas=areas), by=author)
    with callbacks(execute=True):
        approve_alert(alert, by=approver)
    alert.refresh_from_db()
    return alert


def _end_pause(channel: str) -> None:
    """As if CHANNEL_PAUSE_SECONDS had passed: the pause and its waiting deliveries are due."""
    past = timezone.now() - datetime.timedelta(seconds=1)
    ChannelPause.objects.filter(channel=channel).update(until=past)
    Delivery.objects.filter(channel=channel, state=D.RETRY).update(next_attempt_at=past)


def _resume_and_send_each_once(sending, callbacks, channel: str, addresses: list[str], deliveries) -> None:
    """At the pause's end the sweep queues the waiting deliveries: each address gets one
    message, every delivery is SENT, and the pause is over."""
    _end_pause(channel)
    with callbacks(execute=True):
        sweep_deliveries()
    got = Counter(accepted(sending, channel))
    assert sorted(got) == sorted(addresses) and set(got.values()) == {1}
    assert set(deliveries.values_list("state", flat=True)) == {D.SENT}
    assert not ChannelPause.objects.exists()


def test_a_refused_sendgrid_key_pauses_email_and_loses_nothing(
    sending, settings, afghanistan, author, approver, django_capture_on_commit_callbacks
) -> None:
    people = [present(full_name=f"Person {i}") for i in range(3)]
    good_key = settings.SENDGRID_API_KEY
    settings.SENDGRID_API_KEY = "SG.revoked-key.not-valid"
    alert = _approve(author, approver, [afghanistan], django_capture_on_commit_callbacks)

    # SMS went out; the emails wait: not FAILED (a 401 used to be permanent), no attempt spent.
    assert sorted(accepted(sending, "sms")) == sorted(p.phone for p in people)
    assert accepted(sending, "email") == []
    emails = Delivery.objects.filter(alert=alert, channel="email")
    assert {(d.state, d.attempts, d.error_code) for d in emails} == {(D.RETRY, 0, "401")}
    pause = ChannelPause.objects.get(channel="email")
    assert pause.code == "401" and pause.until > timezone.now()
    assert emails.first().next_attempt_at == pause.until

    # While paused: a send task claims nothing, the sweep queues nothing, and no request
    # reaches the provider however often they run.
    requests = len(sending.received("email"))
    ids = list(emails.values_list("pk", flat=True))
    report = send_delivery_chunk(alert.pk, "email", ids)
    assert report.paused and report.claimed == 0
    Delivery.objects.filter(pk__in=ids).update(next_attempt_at=timezone.now())  # due, but paused
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_deliveries().requeued == 0
    assert len(sending.received("email")) == requests

    # Still refused at the pause's end: the pause is renewed, attempts still unspent.
    _end_pause("email")
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_deliveries().requeued == 3
    assert len(sending.received("email")) == requests + 1
    renewed = ChannelPause.objects.get(channel="email")
    assert renewed.until > timezone.now() and renewed.refusals == 2 and renewed.since == pause.since
    assert {(d.state, d.attempts) for d in emails.all()} == {(D.RETRY, 0)}

    # The key is fixed: at the pause's end each email goes out once, and the pause ends.
    settings.SENDGRID_API_KEY = good_key
    _resume_and_send_each_once(sending, django_capture_on_commit_callbacks, "email", [p.email for p in people], emails)
    assert set(emails.values_list("attempts", flat=True)) == {1}
    alert.refresh_from_db()
    assert alert.state == alert.State.SENT


def test_refused_twilio_credentials_pause_sms_only(
    sending, settings, afghanistan, author, approver, django_capture_on_commit_callbacks
) -> None:
    people = [present(full_name=f"Person {i}") for i in range(4)]
    good_token = settings.TWILIO_AUTH_TOKEN
    settings.TWILIO_AUTH_TOKEN = "0" * 32
    alert = _approve(author, approver, [afghanistan], django_capture_on_commit_callbacks)

    assert sorted(accepted(sending, "email")) == sorted(p.email for p in people)
    assert accepted(sending, "sms") == []
    sms = Delivery.objects.filter(alert=alert, channel="sms")
    assert {(d.state, d.attempts, d.error_code) for d in sms} == {(D.RETRY, 0, "20003")}
    assert ChannelPause.objects.get().channel == "sms"

    settings.TWILIO_AUTH_TOKEN = good_token
    _resume_and_send_each_once(sending, django_capture_on_commit_callbacks, "sms", [p.phone for p in people], sms)


def test_refusals_of_our_account_are_told_apart_from_the_messages_own() -> None:
    from python_http_client.exceptions import HTTPError

    from alerts.channels.sendgrid import map_sendgrid_error

    def http_error(status: int) -> HTTPError:
        return HTTPError(status, "refused", b'{"errors": [{"message": "no"}]}', {})

    for status in (401, 403):
        error = map_sendgrid_error(http_error(status))
        assert error.account and not error.permanent and error.code == str(status)
    for status in (400, 413):
        error = map_sendgrid_error(http_error(status))
        assert error.permanent and not error.account
    assert not map_sendgrid_error(http_error(503)).account
    assert map_sendgrid_error(http_error(503)).outage and not map_sendgrid_error(http_error(400)).outage


def test_a_refused_account_holds_the_rest_of_the_round_without_asking_again(
    sending, settings, afghanistan, author, approver, django_capture_on_commit_callbacks
) -> None:
    # A task the sweep queued again mixes languages: one SendGrid request per text.
    english = [present(email_only=True, preferred_language="en") for _ in range(2)]
    dari = [present(email_only=True, preferred_language="fa") for _ in range(2)]
    texts = {
        "en": {"sms_text": "Leave now", "email_subject": "Leave", "email_body": "Leave now, {name}."},
        "fa": {"sms_text": "FA", "email_subject": "FA", "email_body": "FA {name}"},
    }
    alert = submit_for_approval(make_alert(author, areas=[afghanistan], texts=texts), by=author)
    with django_capture_on_commit_callbacks(execute=False):  # deliveries created, no task run
        approve_alert(alert, by=approver)
        start_fan_out(alert.pk)
    emails = Delivery.objects.filter(alert=alert, channel="email")
    assert emails.count() == len(english + dari)

    settings.SENDGRID_API_KEY = "SG.revoked-key.not-valid"
    report = send_delivery_chunk(alert.pk, "email", list(emails.values_list("pk", flat=True)))
    assert report.paused and report.retry == 4
    assert len(sending.received("email")) == 1  # the second language was not sent to be refused too
    assert set(emails.values_list("state", "attempts", "error_code")) == {(D.RETRY, 0, "401")}


def test_a_provider_failing_request_after_request_pauses_instead_of_failing_every_message(
    sending, settings, afghanistan, author, approver, django_capture_on_commit_callbacks
) -> None:
    # Twilio down: every request answered 503. Without a pause each SMS would spend its
    # attempts within minutes and end FAILED.
    settings.CHANNEL_OUTAGE_AFTER = 5
    people = [present(phone_only=True) for _ in range(8)]
    sending.fail_next(None, api="sms", http_status=503)
    alert = _approve(author, approver, [afghanistan], django_capture_on_commit_callbacks)
    sms = Delivery.objects.filter(alert=alert)
    assert {(d.state, d.attempts) for d in sms} == {(D.RETRY, 0)}
    pause = ChannelPause.objects.get(channel="sms")
    assert pause.kind == ChannelPause.Kind.OUTAGE and pause.code == "20503"
    assert (pause.until - pause.refused_at).total_seconds() == settings.CHANNEL_OUTAGE_PAUSE_SECONDS

    # Still down at the pause's end: renewed, nothing spent.
    _end_pause("sms")
    with django_capture_on_commit_callbacks(execute=True):
        sweep_deliveries()
    assert ChannelPause.objects.get(channel="sms").refusals == 2
    assert {(d.state, d.attempts) for d in sms.all()} == {(D.RETRY, 0)}

    # Back up: each SMS goes out once and the pause ends.
    sending.reset()  # the provider is back (and forgets what it refused)
    _resume_and_send_each_once(sending, django_capture_on_commit_callbacks, "sms", [p.phone for p in people], sms)


def test_a_few_server_errors_are_retried_per_message_as_before(
    sending, settings, afghanistan, author, approver, django_capture_on_commit_callbacks
) -> None:
    settings.CHANNEL_OUTAGE_AFTER = 5
    present(phone_only=True)
    present(phone_only=True)
    sending.fail_next(2, api="sms", http_status=503)
    alert = _approve(author, approver, [afghanistan], django_capture_on_commit_callbacks)
    assert {(d.state, d.attempts) for d in Delivery.objects.filter(alert=alert)} == {(D.RETRY, 1)}
    assert not ChannelPause.objects.exists()


def test_what_still_waits_when_the_alert_expires_is_never_sent_late(
    sending, settings, afghanistan, author, approver, django_capture_on_commit_callbacks
) -> None:
    from alerts.models import Alert

    people = [present(phone_only=True) for _ in range(3)]
    good_token = settings.TWILIO_AUTH_TOKEN
    settings.TWILIO_AUTH_TOKEN = "0" * 32  # SMS paused: the messages wait
    alert = _approve(author, approver, [afghanistan], django_capture_on_commit_callbacks)
    assert {d.state for d in Delivery.objects.filter(alert=alert)} == {D.RETRY}
    Alert.objects.filter(pk=alert.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))

    # Even if a send task runs (the account is fixed, the pause over), nothing is claimed.
    ids = list(Delivery.objects.filter(alert=alert).values_list("pk", flat=True))
    settings.TWILIO_AUTH_TOKEN = good_token
    ChannelPause.objects.all().delete()
    assert send_delivery_chunk(alert.pk, "sms", ids).claimed == 0
    with django_capture_on_commit_callbacks(execute=True):
        report = sweep_deliveries()
    assert report.skipped_expired == len(people) and report.requeued == 0
    assert set(Delivery.objects.filter(alert=alert).values_list("state", "error_code")) == {(D.SKIPPED, "expired")}
    assert accepted(sending, "sms") == []
    alert.refresh_from_db()
    assert alert.state == Alert.State.SENT  # finished: nothing left to send
