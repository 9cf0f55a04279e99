"""Staff see on every console page that a channel is paused, and monitoring sees it on /healthz."""

from __future__ import annotations

import pytest

from alerts.channels.base import ChannelError
from alerts.services import pauses

pytestmark = pytest.mark.django_db


def test_the_console_and_healthz_show_a_paused_channel(author_client) -> None:
    pauses.pause_channel(
        "sms", ChannelError("twilio 20003: credentials refused", permanent=False, code="20003", account=True)
    )
    page = author_client.get("/console/").content.decode()
    assert "SMS sending is paused." in page and "20003" in page and "TWILIO_AUTH_TOKEN" in page
    assert "Email sending is paused." not in page
    health = author_client.get("/healthz").json()
    assert health["checks"]["paused_channels"] == ["sms"] and health["status"] == "ok"

    pauses.resume_channel("sms")
    assert "sending is paused" not in author_client.get("/console/").content.decode()
    assert author_client.get("/healthz").json()["checks"]["paused_channels"] == []


def test_a_provider_outage_is_told_apart_from_a_refused_account(author_client) -> None:
    error = ChannelError("sendgrid HTTP 503: server error", permanent=False, code="503", outage=True)
    pauses.pause_channel("email", error)
    page = author_client.get("/console/").content.decode()
    assert "Email sending is paused." in page and "server errors" in page and "status page" in page
    assert "SENDGRID_API_KEY" not in page  # nothing of ours to fix


@pytest.mark.parametrize(
    ("code", "says", "not_said"),
    [
        ("timeout", "has not answered our requests in time", "server errors"),
        ("connection", "Our connections to the provider have been failing", "server errors"),
        ("answer", "Our connections to the provider have been failing", "server errors"),
        ("20503", "answering with server errors", "network connection"),
    ],
)
def test_the_outage_banner_says_what_went_wrong(author_client, code: str, says: str, not_said: str) -> None:
    # The pause's code names the commonest failure of the requests that tipped it over
    # (pauses.count_outage): timed out, could not connect / lost the connection, 5xx.
    error = ChannelError(f"twilio: {code}", permanent=False, code=code, outage=True)
    pauses.pause_channel("sms", error)
    page = author_client.get("/console/").content.decode()
    assert "SMS sending is paused." in page and says in page and not_said not in page
    network = "network connection and Twilio" in page
    assert network is (code in ("connection", "answer"))
    assert "TWILIO_AUTH_TOKEN" not in page
