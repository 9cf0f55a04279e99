"""A look-up of Twilio's messages that fails says how, as a send's failure does, so the
sweep's and a claim's look-ups count towards the channel's outage
(``TwilioSMSChannel.messages_to``, ``map_list_error``)."""

from __future__ import annotations

import datetime
import socket

import pytest

from alerts.channels.base import ChannelError
from alerts.channels.twilio import TwilioSMSChannel
from alerts.services import pauses

SINCE = datetime.datetime(2021, 8, 15, tzinfo=datetime.UTC)


def look_up() -> ChannelError:
    with pytest.raises(ChannelError) as raised:
        TwilioSMSChannel().messages_to("+93700000001", SINCE)
    return raised.value


def test_a_server_error_is_an_outage(stub_providers):
    stub_providers.fail_next(1, api="sms-list", http_status=503)
    error = look_up()
    assert error.outage and not error.permanent and error.code == "20503"  # Twilio's code for a 503


def test_a_timeout_is_unreachable(stub_providers, settings):
    settings.PROVIDER_TIMEOUT_SECONDS = 0.3
    stub_providers.fail_next(1, api="sms-list", http_status=500, latency_ms=1500)  # answers too late
    error = look_up()
    assert error.unreachable and error.code == "timeout"


def test_a_refused_connection_is_unreachable(stub_providers, settings):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        settings.TWILIO_API_BASE_URL = f"http://127.0.0.1:{closed.getsockname()[1]}"  # nothing listens
    error = look_up()
    assert error.unreachable and error.code == "connection"


def test_our_credentials_refused_pause_the_account_not_an_outage(stub_providers, settings):
    settings.TWILIO_AUTH_TOKEN = "not-the-token-" + "0" * 18
    error = look_up()
    assert error.account and not error.outage and not error.unreachable


def test_look_ups_that_keep_failing_pause_the_channel(stub_providers, settings):
    stub_providers.fail_next(settings.CHANNEL_OUTAGE_AFTER, api="sms-list", http_status=503)
    outcomes = [pauses.count_outage("sms", [look_up()]) for _ in range(settings.CHANNEL_OUTAGE_AFTER)]
    assert outcomes[:-1] == [None] * (settings.CHANNEL_OUTAGE_AFTER - 1)
    assert outcomes[-1] is not None and outcomes[-1].outage  # the sweep then pauses the channel
