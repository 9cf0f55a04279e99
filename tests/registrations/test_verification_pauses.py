"""Codes and links wait for a paused channel as alerts do, and pause it as alerts do.

Through the real SDKs against the provider stub: while a channel is paused a single
message is not handed to the provider; its task is queued again for the pause's end,
without spending a retry (or dropped, logged without contacts, once the code would have
expired by then); a refusal of our account to a code pauses the channel; the first
message accepted after a pause has ended ends it. One test runs a real Celery worker.
"""

from __future__ import annotations

import datetime
import logging
import time
from unittest import mock

import pytest
from django.utils import timezone

from alerts import notify
from alerts.channels.base import ChannelError
from alerts.models import ChannelPause
from alerts.notify import message_payload, queue_message
from alerts.services import pauses
from alerts.tasks import send_single_message
from tests.fixtures.worker import wait_until

pytestmark = pytest.mark.django_db

PHONE = "+93701234567"
EMAIL = "sara@example.org"
REFUSED = ChannelError("twilio 20003: credentials refused", permanent=False, code="20003", account=True)


def _code(**kwargs) -> dict:
    return message_payload("sms", PHONE, "Your code is 123456.", reference="verification:7", **kwargs)


def _pause_sms(seconds: float = 60) -> ChannelPause:
    pause = pauses.pause_channel("sms", REFUSED)
    ChannelPause.objects.filter(pk=pause.pk).update(until=timezone.now() + datetime.timedelta(seconds=seconds))
    pauses.forget()
    return ChannelPause.objects.get(pk=pause.pk)


def _countdown_to(pause: ChannelPause, call) -> float:
    """Seconds after the pause's end the queued task is due (its jitter)."""
    return call.kwargs["countdown"] - (pause.until - timezone.now()).total_seconds()


def test_a_code_is_not_sent_while_sms_is_paused_and_waits_for_the_pause_without_spending_a_retry(
    stub_providers, held
) -> None:
    pause = _pause_sms()
    code = _code()
    result = send_single_message.apply(args=(code,), retries=2)  # two retries spent already

    assert result.successful() and result.get() is None
    assert stub_providers.received("sms") == []
    (call,) = held.call_args_list
    assert call.args == ((code,),)
    assert call.kwargs["retries"] == 2  # the same two: waiting spends none
    low, high = notify.PAUSE_JITTER_SECONDS
    assert low - 1 <= _countdown_to(pause, call) <= high
    assert PHONE not in call.kwargs["argsrepr"] and "verification:7" in call.kwargs["argsrepr"]


def test_only_the_paused_channels_message_of_a_registration_waits(stub_providers, held) -> None:
    _pause_sms()
    code, link = _code(), message_payload("email", EMAIL, "Open the link.", subject="Confirm", reference="v:8")
    send_single_message.apply(args=([code, link],), retries=1)

    assert stub_providers.received("sms") == [] and len(stub_providers.received("email")) == 1
    (call,) = held.call_args_list
    assert call.args == ((code,),) and call.kwargs["retries"] == 1


def test_an_account_refusal_to_a_code_pauses_sms_and_the_code_waits_unspent(stub_providers, settings, held) -> None:
    settings.TWILIO_AUTH_TOKEN = "0" * 32  # revoked
    send_single_message.apply(args=(_code(),))

    assert [r["status"] for r in stub_providers.received("sms")] == [401]  # asked once, not retried
    pause = ChannelPause.objects.get(channel="sms")
    assert pause.kind == ChannelPause.Kind.ACCOUNT and pause.code == "20003"
    assert (pause.until - pause.refused_at).total_seconds() == settings.CHANNEL_PAUSE_SECONDS
    (call,) = held.call_args_list
    assert call.kwargs["retries"] == 0 and _countdown_to(pause, call) >= notify.PAUSE_JITTER_SECONDS[0] - 1


def test_server_errors_to_codes_count_towards_an_outage_and_the_last_one_waits(stub_providers, settings, held) -> None:
    settings.CHANNEL_OUTAGE_AFTER = 2
    stub_providers.fail_next(None, api="sms", http_status=503)
    send_single_message.apply(args=(_code(),), throw=False)  # 503, retried (in-process at once), 503

    assert [r["status"] for r in stub_providers.received("sms")] == [503, 503]
    pause = ChannelPause.objects.get(channel="sms")
    assert pause.kind == ChannelPause.Kind.OUTAGE and pause.code == "20503"
    (call,) = held.call_args_list
    assert call.kwargs["retries"] == 1  # the retry of the first 503, and no more


def test_the_first_code_accepted_after_a_pause_has_ended_ends_it(stub_providers) -> None:
    _pause_sms(seconds=-1)  # its end has come; no alert has tried since
    assert send_single_message.apply(args=(_code(),)).get().startswith("SM")
    assert len(stub_providers.received("sms")) == 1
    assert not ChannelPause.objects.exists()


def test_a_pause_renewed_after_the_accepted_message_was_sent_stays() -> None:
    sent_at = timezone.now()
    pauses.pause_channel("sms", REFUSED)  # refused after our message went out
    assert pauses.resume_channel("sms", sent_since=sent_at) is False
    assert ChannelPause.objects.filter(channel="sms").exists()
    assert pauses.resume_channel("sms", sent_since=timezone.now()) is True


def test_a_code_that_would_expire_before_the_pause_ends_is_dropped_and_logged_without_contacts(
    stub_providers, held, caplog
) -> None:
    _pause_sms(seconds=120)
    caplog.set_level(logging.INFO)
    send_single_message.apply(args=(_code(valid_for=60),))

    assert held.call_count == 0 and stub_providers.received("sms") == []
    assert "verification:7 dropped" in caplog.text and "expires" in caplog.text
    assert PHONE not in caplog.text and "123456" not in caplog.text


def test_a_message_queued_before_messages_carried_their_expiry_still_waits(stub_providers, held) -> None:
    _pause_sms()
    old = {k: v for k, v in _code().items() if k != "expires_at"}
    send_single_message.apply(args=(old,))
    (call,) = held.call_args_list
    (waiting,) = call.args[0]
    assert waiting["expires_at"] > time.time() + 60  # from now: it waits, and not forever


def test_in_process_tasks_cannot_wait_and_drop_the_message(stub_providers, caplog) -> None:
    _pause_sms()
    with mock.patch.object(send_single_message, "apply_async") as publish:
        assert send_single_message.apply(args=(_code(),)).get() is None
    assert publish.call_count == 0 and stub_providers.received("sms") == []
    assert "tasks run in-process" in caplog.text


# --- a real worker ---------------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.postgres
@pytest.mark.redis
def test_a_code_queued_while_sms_is_paused_reaches_the_provider_only_after_the_pause(
    celery_workers, provider_stub
) -> None:
    from tests.pipeline.e2e import worker_env

    env, _sender = worker_env(provider_stub, LOG_LEVEL="INFO")
    worker = celery_workers.start("codes", env=env, loglevel="INFO")
    pause = _pause_sms(seconds=2)
    queue_message("sms", PHONE, "Your code is 123456.", reference="verification:9")

    wait_until(lambda: "wait for the channel's pause" in worker.log(), timeout=20, what="the code to wait")
    time.sleep(max(0.0, (pause.until - timezone.now()).total_seconds() - 0.3))
    assert provider_stub.received("sms") == []  # nothing reached the provider while paused
    wait_until(lambda: provider_stub.received("sms"), timeout=20, what="the code to be sent")
    (sms,) = provider_stub.received("sms")
    assert sms["status"] == 201 and sms["to"] == [PHONE]
    assert sms["received_at"] >= pause.until.timestamp()
    wait_until(lambda: not ChannelPause.objects.exists(), timeout=5, what="the pause to end")
    log = worker.log()
    assert "0 retries spent" in log and "Retry in" not in log
    assert PHONE not in log
