"""A provider that times out or cannot be reached is as down as one answering 503.

Through the real pipeline and the real SDKs against the provider stub (answering later
than the client waits), or against a port nobody listens on: ``CHANNEL_OUTAGE_AFTER``
requests in a row that time out or cannot connect pause the channel, and the messages
keep every exactly-once promise: a timed-out SMS is looked up before it is sent again, a
timed-out email is never sent again, and what was never tried goes out once the
provider is back.
"""

from __future__ import annotations

import datetime
import socket
from collections import Counter

import pytest
from django.utils import timezone

from alerts.channels.base import ChannelError, SendResult
from alerts.models import ChannelPause, Delivery
from alerts.services import pauses
from alerts.services.alerts import approve_alert, submit_for_approval
from alerts.services.fanout import send_delivery_chunk, sweep_deliveries
from tests.pipeline.conftest import accepted, make_alert, present, send_through_stub

pytestmark = pytest.mark.django_db
D = Delivery.State


@pytest.fixture
def sending(stub_providers, settings):
    settings.PROVIDER_TIMEOUT_SECONDS = 0.3
    settings.CHANNEL_OUTAGE_AFTER = 3
    return send_through_stub(stub_providers, settings, "7")


def _approve(author, approver, areas, callbacks):
    alert = submit_for_approval(make_alert(author, areas=areas), by=author)
    with callbacks(execute=True):
        approve_alert(alert, by=approver)
    alert.refresh_from_db()
    return alert


def _closed_port() -> str:
    """A loopback address nothing listens on: every connection is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _end_pause(channel: str) -> None:
    """As if the pause had run out: the pause and its waiting deliveries are due."""
    past = timezone.now() - datetime.timedelta(seconds=1)
    ChannelPause.objects.filter(channel=channel).update(until=past)
    Delivery.objects.filter(channel=channel, state=D.RETRY).update(next_attempt_at=past)


def _nothing_moves_while_paused(stub, alert, channel: str, callbacks) -> None:
    """While paused a send task claims nothing and the sweep queues nothing."""
    requests = len(stub.received(channel))
    ids = list(Delivery.objects.filter(alert=alert, channel=channel).values_list("pk", flat=True))
    assert send_delivery_chunk(alert.pk, channel, ids).claimed == 0
    Delivery.objects.filter(pk__in=ids, state=D.RETRY).update(next_attempt_at=timezone.now())  # due, but paused
    with callbacks(execute=True):
        assert sweep_deliveries().requeued == 0
    assert len(stub.received(channel)) == requests


def test_an_sms_provider_timing_out_every_request_pauses_sms_and_sends_nothing_twice(
    sending, settings, afghanistan, author, approver, django_capture_on_commit_callbacks
) -> None:
    people = [present(phone_only=True) for _ in range(4)]
    sending.configure(latency_ms=800)  # Twilio takes every message but answers too late
    alert = _approve(author, approver, [afghanistan], django_capture_on_commit_callbacks)

    pause = ChannelPause.objects.get(channel="sms")
    assert pause.kind == ChannelPause.Kind.OUTAGE and pause.code == "timeout"
    assert "timed out" in pause.reason and "none accepted" in pause.reason
    assert (pause.until - pause.refused_at).total_seconds() == settings.CHANNEL_OUTAGE_PAUSE_SECONDS
    # The outcome is unknown: kept as a timeout (looked up before any resend), not held.
    sms = Delivery.objects.filter(alert=alert, channel="sms")
    assert {(d.state, d.error_code, d.attempts) for d in sms} == {(D.RETRY, "timeout", 1)}
    sending.state.wait_for(lambda state: len(accepted(sending, "sms")) == len(people), 5)
    _nothing_moves_while_paused(sending, alert, "sms", django_capture_on_commit_callbacks)

    # Back up: each SMS is found at the provider, none is sent a second time, the pause ends.
    sending.configure(latency_ms=0)
    _end_pause("sms")
    with django_capture_on_commit_callbacks(execute=True):
        sweep_deliveries()
    assert Counter(accepted(sending, "sms")) == Counter(p.phone for p in people)
    assert set(sms.values_list("state", flat=True)) == {D.SENT}
    assert not ChannelPause.objects.exists()


def test_an_sms_provider_refusing_connections_pauses_sms_and_each_message_goes_out_once(
    sending, settings, afghanistan, author, approver, django_capture_on_commit_callbacks
) -> None:
    people = [present(phone_only=True) for _ in range(4)]
    stub_url = settings.TWILIO_API_BASE_URL
    settings.TWILIO_API_BASE_URL = _closed_port()
    alert = _approve(author, approver, [afghanistan], django_capture_on_commit_callbacks)

    pause = ChannelPause.objects.get(channel="sms")
    assert pause.kind == ChannelPause.Kind.OUTAGE and pause.code == "connection"
    assert "could not connect" in pause.reason
    sms = Delivery.objects.filter(alert=alert, channel="sms")
    assert {(d.state, d.error_code) for d in sms} == {(D.RETRY, "connection")}
    assert sending.received("sms") == []
    _nothing_moves_while_paused(sending, alert, "sms", django_capture_on_commit_callbacks)

    settings.TWILIO_API_BASE_URL = stub_url
    _end_pause("sms")
    with django_capture_on_commit_callbacks(execute=True):
        sweep_deliveries()
    assert Counter(accepted(sending, "sms")) == Counter(p.phone for p in people)
    assert set(sms.values_list("state", flat=True)) == {D.SENT}
    assert not ChannelPause.objects.exists()


def test_an_email_provider_timing_out_pauses_email_and_never_sends_a_timed_out_request_again(
    sending, settings, afghanistan, author, approver, django_capture_on_commit_callbacks
) -> None:
    settings.CHANNEL_OUTAGE_AFTER = 2
    settings.EMAIL_BATCH_SIZE = 1  # one request per email: three requests, not one
    people = [present(email_only=True) for _ in range(3)]
    sending.configure(latency_ms=800)  # SendGrid takes them and answers too late
    alert = _approve(author, approver, [afghanistan], django_capture_on_commit_callbacks)

    pause = ChannelPause.objects.get(channel="email")
    assert pause.kind == ChannelPause.Kind.OUTAGE and pause.code == "timeout" and "timed out" in pause.reason
    emails = Delivery.objects.filter(alert=alert, channel="email")
    # Two requests timed out: outcome unknown, never sent again. The third was not tried.
    states = Counter((d.state, d.error_code, d.attempts) for d in emails)
    assert states[(D.FAILED, "unknown", 1)] == 2
    (waiting,) = [d for d in emails if d.state != D.FAILED]
    assert waiting.state in (D.QUEUED, D.RETRY) and waiting.attempts == 0
    sending.state.wait_for(lambda state: len(accepted(sending, "email")) == 2, 5)  # taken, late
    _nothing_moves_while_paused(sending, alert, "email", django_capture_on_commit_callbacks)

    sending.configure(latency_ms=0)
    _end_pause("email")
    with django_capture_on_commit_callbacks(execute=True):
        sweep_deliveries()
    assert Counter(accepted(sending, "email")) == Counter(p.email for p in people)  # each once
    waiting.refresh_from_db()
    assert waiting.state == D.SENT
    assert not ChannelPause.objects.exists()


# --- the count ------------------------------------------------------------------------------


def _timeout() -> ChannelError:
    return ChannelError("twilio: no answer within 10s", permanent=False, code="timeout", unreachable=True)


def test_timeouts_and_failed_connections_count_towards_an_outage_as_server_errors_do(settings) -> None:
    settings.CHANNEL_OUTAGE_AFTER = 4
    refused = ChannelError(
        "twilio: connection failed (ClientConnectorError)", permanent=False, code="connection", unreachable=True
    )
    server = ChannelError("twilio HTTP 503: server error", permanent=False, code="20503", outage=True)
    assert pauses.count_outage("sms", [_timeout()]) is None
    assert pauses.count_outage("sms", [refused]) is None
    error = pauses.count_outage("sms", [_timeout(), server])
    assert error is not None and error.outage and not error.account
    assert error.code == "timeout"  # the commonest kind: 2 timed out, 1 could not connect, 1 server error
    assert "4 requests in a row failed" in error.message and "2 timed out" in error.message
    assert pauses.count_outage("sms", [_timeout()]) is None  # counted again from the start


def test_anything_accepted_starts_the_count_again_and_other_refusals_do_not_count(settings) -> None:
    settings.CHANNEL_OUTAGE_AFTER = 3
    rate_limited = ChannelError("twilio 20429: too many requests", permanent=False, code="20429")
    account = ChannelError("twilio 20003: credentials refused", permanent=False, code="20003", account=True)
    assert pauses.count_outage("sms", [_timeout(), _timeout()]) is None
    assert pauses.count_outage("sms", [_timeout(), SendResult("SM1")]) is None  # accepted: from zero
    assert pauses.count_outage("sms", [_timeout(), _timeout(), rate_limited, account]) is None
    assert pauses.count_outage("email", [_timeout(), _timeout()]) is None  # each channel its own count
    assert pauses.count_outage("sms", [_timeout()]) is not None


def test_a_sendgrid_request_counts_once_whatever_its_recipients(settings) -> None:
    settings.CHANNEL_OUTAGE_AFTER = 2
    one_request = ChannelError("sendgrid: no answer within 10s", permanent=False, code="timeout", unreachable=True)
    assert pauses.count_outage("email", [one_request] * 1000) is None  # one request's 1,000 recipients
    other_request = ChannelError("sendgrid: no answer within 10s", permanent=False, code="timeout", unreachable=True)
    assert pauses.count_outage("email", [other_request] * 3) is not None


def test_timeouts_among_accepted_messages_pause_nothing(
    sending, settings, afghanistan, author, approver, django_capture_on_commit_callbacks
) -> None:
    people = [present(phone_only=True) for _ in range(6)]
    for person in people[:3]:
        sending.fail_next(1, lose_answer=True, to=person.phone)  # connection dropped, no answer
    alert = _approve(author, approver, [afghanistan], django_capture_on_commit_callbacks)
    assert not ChannelPause.objects.exists()
    sms = Delivery.objects.filter(alert=alert, channel="sms")
    assert sms.filter(state=D.SENT).count() == 3
    assert set(sms.exclude(state=D.SENT).values_list("state", "error_code")) == {(D.RETRY, "connection")}


def test_the_sendgrid_and_twilio_channels_call_a_refused_connection_unreachable(stub_providers, settings):
    from alerts.channels.base import OutgoingMessage
    from alerts.channels.sendgrid import SendGridEmailChannel
    from alerts.channels.twilio import TwilioSMSChannel

    settings.TWILIO_API_BASE_URL = settings.SENDGRID_API_BASE_URL = _closed_port()
    sms = TwilioSMSChannel().send_batch([OutgoingMessage(channel="sms", to="+447700900123", body="x")])[0]
    email = SendGridEmailChannel().send_batch([OutgoingMessage(channel="email", to="a@example.org", body="x")])[0]
    for error in (sms, email):
        assert isinstance(error, ChannelError) and error.unreachable and not error.outage
        assert error.code == "connection" and pauses.failure_kind(error) == "could not connect"
