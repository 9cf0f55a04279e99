"""Every Twilio failure injected at the stub ends as the right ChannelError."""

from __future__ import annotations

import socket

import pytest

from alerts.channels import ChannelError, OutgoingMessage, SendResult, get_channel

NUMBER = "+447700900123"


def send(message_to: str = NUMBER) -> ChannelError:
    with pytest.raises(ChannelError) as caught:
        get_channel("sms").send(OutgoingMessage(channel="sms", to=message_to, body="Go to the airport now."))
    return caught.value


@pytest.mark.parametrize(
    ("code", "opted_out"),
    [
        (21211, False),  # invalid number
        (21610, True),  # opted out (STOP)
        (21614, False),  # not a mobile number
    ],
)
def test_refusals_for_the_number_are_permanent(stub_providers, code, opted_out):
    stub_providers.fail_next(1, twilio_code=code)

    error = send()

    assert error.permanent is True
    assert error.code == str(code)
    assert error.opted_out is opted_out
    assert stub_providers.received("sms")[0]["status"] == 400


def test_an_invalid_number_refused_by_the_stub_itself_is_permanent(stub_providers):
    error = send("0044 7700 900123")

    assert error.permanent is True
    assert error.code == "21211"


def test_too_many_requests_is_transient_and_keeps_retry_after(stub_providers):
    stub_providers.fail_next(1, twilio_code=20429, retry_after=7)

    error = send()

    assert error.permanent is False
    assert error.code == "20429"
    assert error.retry_after == 7
    assert stub_providers.received("sms")[0]["status"] == 429


def test_http_429_without_retry_after_is_transient(stub_providers):
    stub_providers.fail_next(1, http_status=429)

    error = send()

    assert error.permanent is False
    assert error.retry_after is None


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_faults_are_transient(stub_providers, status):
    stub_providers.fail_next(1, http_status=status)

    error = send()

    assert error.permanent is False
    assert error.outage is True  # many in a row pause the channel
    assert stub_providers.received("sms")[0]["status"] == status


def test_refused_credentials_refuse_our_account_not_the_message(stub_providers, settings):
    # The channel pauses on it (tests/pipeline/test_channel_pause.py); no attempt is spent.
    settings.TWILIO_AUTH_TOKEN = "wrong-token"

    error = send()

    assert error.permanent is False and error.account is True
    assert error.code == "20003"


def test_a_refused_message_is_not_a_refused_account(stub_providers):
    stub_providers.fail_next(1, twilio_code=21211)

    error = send()

    assert error.permanent is True and error.account is False


def test_a_timeout_is_transient(stub_providers, settings):
    settings.PROVIDER_TIMEOUT_SECONDS = 0.2
    stub_providers.fail_next(1, http_status=500, latency_ms=1000)

    error = send()

    assert error.permanent is False
    assert error.code == "timeout"


def test_a_refused_connection_is_transient(stub_providers, settings):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings.TWILIO_API_BASE_URL = f"http://127.0.0.1:{port}"

    error = send()

    assert error.permanent is False
    assert error.code == "connection"


def test_failures_for_one_number_leave_the_others_alone(stub_providers):
    stub_providers.fail_next(None, twilio_code=21610, to=["+447700900002"])
    messages = [OutgoingMessage(channel="sms", to=f"+44770090000{n}", body="Stay indoors.") for n in range(1, 5)]

    results = get_channel("sms").send_batch(messages)

    assert [type(r) for r in results] == [SendResult, ChannelError, SendResult, SendResult]
    assert results[1].opted_out is True


def test_a_random_failure_rate_fails_about_that_share(stub_providers):
    stub_providers.configure(failure_rate=0.5, failure_http_status=503)
    messages = [OutgoingMessage(channel="sms", to=f"+4477009{n:05d}", body="Stay indoors.") for n in range(200)]

    results = get_channel("sms").send_batch(messages)

    failed = [r for r in results if isinstance(r, ChannelError)]
    assert 50 < len(failed) < 150
    assert all(not r.permanent for r in failed)
