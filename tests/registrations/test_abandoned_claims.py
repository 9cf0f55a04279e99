"""A code whose worker died between its claim and the provider's answer is sent again.

A task claims a verification's message in the database (``sent_at``) before the
provider is asked and records the provider's answer after (``answered_at``). A claim
left unanswered for ``VERIFICATION_CLAIM_STALE_SECONDS`` lost its worker: the beat
(``requeue_verification_messages``) takes it back and sends the message again, the same
code (derived from the row), at most ``VERIFICATION_CLAIM_MAX_RESENDS`` times, while it
is worth sending, and not while its channel is paused. A claim younger than the bound
may belong to a live, slow worker (the task's hard time limit plus the provider's
timeout is shorter): it is left alone. Through the real Twilio SDK to the provider
stub; the last test kills a real worker mid-send.
"""

from __future__ import annotations

import datetime
import os
import re
import subprocess
import sys
import time

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from alerts.models import ChannelPause
from alerts.services import pauses
from alerts.tasks import send_single_message
from registrations import services, verification_messages
from registrations.models import Verification
from registrations.tasks import requeue_verification_messages
from tests.fixtures.worker import wait_until
from tests.registrations.conftest import valid_form

pytestmark = pytest.mark.django_db

PHONE = "+93701234567"


def codes_received(stub) -> list[str]:
    return [re.search(r"\b(\d{6})\b", r["body"]).group(1) for r in stub.received("sms") if r["status"] < 300]


@pytest.fixture
def beat(django_capture_on_commit_callbacks):
    """One pass of the beat's task; its publishes (held) after its commit."""

    def run() -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return requeue_verification_messages.apply().get()

    return run


@pytest.fixture
def registered(client, django_capture_on_commit_callbacks, held):
    """A registration by phone only; its task published (held, not run). Returns the
    pending page's address and the code the original message carries."""
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/", valid_form(**{"contact-email": ""}))
    assert response.status_code == 302
    (original,) = held.call_args_list
    held.reset_mock()
    (payload,) = original.args[0]
    code = re.search(r"\b(\d{6})\b", payload["body"]).group(1)
    return response["Location"], code


def worker_dies_after_claiming(ago: float) -> Verification:
    """What a worker killed mid-send leaves: the message claimed ``ago`` seconds ago, and
    no answer recorded."""
    verification = Verification.objects.get(channel=Verification.Channel.SMS)
    assert verification_messages.claim(verification.pk) is not None
    Verification.objects.filter(pk=verification.pk).update(sent_at=timezone.now() - datetime.timedelta(seconds=ago))
    return Verification.objects.get(pk=verification.pk)


def run_published(held) -> None:
    """Run the tasks the beat published, as a worker would."""
    for call in held.call_args_list:
        send_single_message.apply(args=call.args[0])
    held.reset_mock()


def stale(settings) -> float:
    return settings.VERIFICATION_CLAIM_STALE_SECONDS + 1


def test_a_code_whose_worker_died_after_its_claim_is_sent_again_once_with_the_same_code(
    client, registered, stub_providers, held, beat, settings
):
    pending, code = registered
    worker_dies_after_claiming(ago=stale(settings))

    assert beat() == 1
    run_published(held)
    assert codes_received(stub_providers) == [code]  # the code the first message carried
    row = Verification.objects.get(channel=Verification.Channel.SMS)
    assert row.resends == 1 and row.answered_at is not None

    # Answered now: never again, however old the claim grows.
    Verification.objects.update(sent_at=timezone.now() - datetime.timedelta(seconds=stale(settings) * 2))
    assert beat() == 0 and not held.called
    assert client.post(pending, {"code": code, "action": "verify"}).status_code == 302
    assert Verification.objects.get().used_at is not None


def test_a_slow_but_live_worker_is_not_raced(registered, stub_providers, held, beat, settings):
    # The longest a live task can hold its claim: its hard time limit plus the provider's timeout.
    live_for = settings.SINGLE_MESSAGE_TIME_LIMIT_SECONDS + settings.PROVIDER_TIMEOUT_SECONDS
    assert send_single_message.time_limit == settings.SINGLE_MESSAGE_TIME_LIMIT_SECONDS
    assert settings.VERIFICATION_CLAIM_STALE_SECONDS > live_for
    claimed = worker_dies_after_claiming(ago=live_for)

    assert beat() == 0 and not held.called
    row = Verification.objects.get(pk=claimed.pk)
    assert row.sent_at == claimed.sent_at and row.resends == 0  # still the slow worker's claim

    # The slow worker's answer comes: recorded, and the claim is never taken back.
    verification_messages.answered(row.pk, row.sent_at)
    Verification.objects.update(sent_at=timezone.now() - datetime.timedelta(seconds=stale(settings)))
    assert beat() == 0 and stub_providers.received("sms") == []


def test_a_claim_taken_back_is_not_recorded_as_answered_by_the_late_worker(registered, held, beat, settings):
    claimed = worker_dies_after_claiming(ago=stale(settings))
    assert beat() == 1
    verification_messages.answered(claimed.pk, claimed.sent_at)  # the old claim's worker, after all
    row = Verification.objects.get(pk=claimed.pk)
    assert row.sent_at is None and row.answered_at is None  # the copy's task claims it afresh


@pytest.mark.parametrize("how", ["expired", "expires too soon", "confirmed"])
def test_an_expired_or_confirmed_code_is_not_sent_again(registered, stub_providers, held, beat, settings, how):
    claimed = worker_dies_after_claiming(ago=stale(settings))
    now = timezone.now()
    if how == "expired":
        Verification.objects.filter(pk=claimed.pk).update(expires_at=now - datetime.timedelta(seconds=1))
    elif how == "expires too soon":
        soon = settings.VERIFICATION_REQUEUE_MIN_VALID_SECONDS - 5
        Verification.objects.filter(pk=claimed.pk).update(expires_at=now + datetime.timedelta(seconds=soon))
    else:
        Verification.objects.filter(pk=claimed.pk).update(used_at=now)

    assert beat() == 0 and not held.called
    assert stub_providers.received("sms") == []
    assert Verification.objects.get(pk=claimed.pk).resends == 0


def test_it_is_sent_again_a_bounded_number_of_times(registered, stub_providers, held, beat, settings):
    settings.VERIFICATION_CLAIM_MAX_RESENDS = 1
    pk = worker_dies_after_claiming(ago=stale(settings)).pk
    assert beat() == 1
    held.reset_mock()
    # The copy's worker dies too.
    assert verification_messages.claim(pk) is not None
    Verification.objects.filter(pk=pk).update(sent_at=timezone.now() - datetime.timedelta(seconds=stale(settings)))

    assert beat() == 0 and not held.called
    assert Verification.objects.get(pk=pk).resends == 1


def test_while_its_channel_is_paused_the_beat_waits_for_the_pause(registered, stub_providers, held, beat, settings):
    _pending, code = registered
    worker_dies_after_claiming(ago=stale(settings))
    from alerts.channels.base import ChannelError

    refused = ChannelError("twilio 20003: credentials refused", permanent=False, code="20003", account=True)
    pause = pauses.pause_channel("sms", refused)

    for _ in range(2):
        assert beat() == 0 and not held.called
    assert Verification.objects.get(channel="sms").resends == 0

    # The pause comes to its end ("Resume now", or its time): the next pass sends it.
    ChannelPause.objects.filter(pk=pause.pk).update(until=timezone.now() - datetime.timedelta(seconds=1))
    pauses.forget()
    assert beat() == 1
    run_published(held)
    assert codes_received(stub_providers) == [code]
    assert not ChannelPause.objects.exists()  # the first accepted ends the pause


def test_the_settings_refuse_a_bound_a_live_worker_could_reach(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "embassy.settings.base",
        "SINGLE_MESSAGE_TIME_LIMIT_SECONDS": "60",
        "PROVIDER_TIMEOUT_SECONDS": "10",
        "VERIFICATION_CLAIM_STALE_SECONDS": "70",
    }
    run = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        cwd=django_settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0 and "VERIFICATION_CLAIM_STALE_SECONDS must be longer" in run.stderr
    env["VERIFICATION_CLAIM_STALE_SECONDS"] = "71"
    run = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        cwd=django_settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr


# --- a real worker killed mid-send -------------------------------------------------------


@pytest.mark.worker
def test_with_a_real_worker_killed_mid_send_the_code_still_comes(celery_workers, provider_stub):
    from tests.pipeline.e2e import worker_env

    env, _sender = worker_env(provider_stub, VERIFICATION_REQUEUE_EVERY_SECONDS=1, PROVIDER_TIMEOUT_SECONDS=30)
    # Twilio takes the first SMS and takes its time to answer: the worker is killed while
    # it waits. The person may get this one and the copy: the same code.
    provider_stub.fail_next(api="sms", latency_ms=6_000, lose_answer=True)
    client = Client()
    response = client.post("/", valid_form(**{"contact-email": ""}))
    assert response.status_code == 302
    doomed = celery_workers.start("doomed", env=env)
    wait_until(lambda: Verification.objects.filter(sent_at__isnull=False).exists(), 60, what="the claim")
    time.sleep(0.5)  # in the provider's hands now
    doomed.kill()
    assert Verification.objects.get().answered_at is None  # no answer came
    # The claim ages past the bound (instead of waiting VERIFICATION_CLAIM_STALE_SECONDS).
    Verification.objects.update(sent_at=timezone.now() - datetime.timedelta(seconds=3600))

    celery_workers.start("rescuer", env=env, beat=True)
    row = wait_until(
        lambda: Verification.objects.filter(answered_at__isnull=False).first(), 60, what="the code sent again"
    )
    assert row.resends == 1
    wait_until(lambda: codes_received(provider_stub), 30, what="the stub to record it")
    codes = set(codes_received(provider_stub))
    assert codes == {services.verification_code(row)}  # one code, however many copies
    assert len(codes_received(provider_stub)) <= 2
    assert client.post(response["Location"], {"code": codes.pop(), "action": "verify"}).status_code == 302
