"""Verification codes and links are never lost to Redis, and never sent twice.

A registration's code and link are recorded on their Verification rows in PostgreSQL
(``registrations.verification_messages``). When their publish fails (Redis down: the
cache and broker at a closed port) the registration still succeeds, its page says the
code is on its way, and the beat's task (``requeue_verification_messages``) sends them
once Redis is back; it also queues again a task Redis lost. A task claims its message
in the database before the provider is asked, so a late original and its copy send
one message; an expired or used verification sends none. Through the real SDKs to the
provider stub; the last tests run a real Celery worker and beat.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
from unittest import mock

import pytest
from django.test import Client
from django.utils import timezone

from alerts.models import ChannelPause
from alerts.notify import PAUSE_JITTER_SECONDS
from alerts.services import pauses
from alerts.tasks import send_single_message
from registrations import services
from registrations.models import Citizen, Verification
from registrations.tasks import requeue_verification_messages
from tests.fixtures.worker import wait_until
from tests.registrations.conftest import valid_form
from tests.registrations.test_redis_down import CONTACT_TRACES, assert_no_contact_in

pytestmark = pytest.mark.django_db

PHONE = "+93701234567"
EMAIL = "sara@example.org"
ON_ITS_WAY = "on its way"


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


@pytest.fixture
def publishes():
    """Every publish of a message task, with its arguments, whether it succeeds or not."""
    with mock.patch.object(send_single_message, "apply_async", wraps=send_single_message.apply_async) as spy:
        yield spy


def register(client: Client, django_capture_on_commit_callbacks, **overrides: str):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post("/", valid_form(**overrides))


def published_payloads(spy) -> list[dict]:
    """Every message the spied publishes carried, in order."""
    messages = []
    for call in spy.call_args_list:
        (argument,) = call.args[0]
        messages += [argument] if isinstance(argument, dict) else argument
    return messages


def sms_codes(stub) -> list[str]:
    return [re.search(r"\b(\d{6})\b", r["body"]).group(1) for r in stub.received("sms") if r["status"] < 300]


def email_links(stub) -> list[str]:
    links = []
    for record in stub.received("email"):
        payload = record["json"] if record["json"] is not None else json.loads(record["body"])
        links += re.findall(r"http://testserver(/verify-email/[^\s\"\\]+)", json.dumps(payload))
    return links


@pytest.fixture
def beat(django_capture_on_commit_callbacks):
    """One pass of the beat's task, run as a worker would: its publishes after its commit."""

    def run() -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return requeue_verification_messages.apply().get()

    return run


def make_overdue(*, queued_ago: float, created_ago: float) -> None:
    now = timezone.now()
    Verification.objects.update(
        created_at=now - datetime.timedelta(seconds=created_ago),
        queued_at=now - datetime.timedelta(seconds=queued_ago),
    )


# --- Redis down while registering -----------------------------------------------------------


def test_a_registration_whose_publish_fails_succeeds_and_says_its_code_is_on_its_way(
    client, redis_down, publishes, logs, django_capture_on_commit_callbacks
):
    response = register(client, django_capture_on_commit_callbacks)

    assert response.status_code == 302
    assert publishes.call_count == 1  # tried, and failed
    assert Citizen.objects.count() == 1
    assert list(Verification.objects.values_list("queued_at", "sent_at")) == [(None, None), (None, None)]
    page = client.get(response["Location"]).content.decode()
    assert page.count(ON_ITS_WAY) == 2 and "We sent" not in page
    assert_no_contact_in(logs)
    (warning,) = [r.getMessage() for r in logs.records if r.name == "alerts.notify" and r.levelname == "WARNING"]
    assert "Celery broker unreachable" in warning and "wait in the database" in warning
    assert not [r for r in logs.records if r.levelno >= logging.ERROR]  # nothing lost


def test_after_a_failed_publish_the_next_registrations_do_not_wait_for_the_broker(
    client, redis_down, publishes, logs, django_capture_on_commit_callbacks
):
    for i in range(3):
        response = register(client, django_capture_on_commit_callbacks, **{"contact-phone": f"+93 70 123 45{i:02d}"})
        assert response.status_code == 302
    assert publishes.call_count == 1  # the first failed; the others went straight to the database
    assert Verification.objects.filter(queued_at__isnull=True).count() == 6
    assert len([r for r in logs.records if r.name == "alerts.notify" and r.levelname == "WARNING"]) == 1


def test_a_new_code_asked_for_with_redis_down_is_on_its_way_too(
    client, redis_outage, django_capture_on_commit_callbacks, stub_providers, beat
):
    pending = register(client, django_capture_on_commit_callbacks, **{"contact-email": ""})["Location"]
    redis_outage.down()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(pending, {"action": "resend"})
    assert response.status_code == 302
    assert ON_ITS_WAY in client.get(response["Location"]).content.decode()
    redis_outage.up()
    assert beat() == 1
    first, second = sms_codes(stub_providers)
    assert client.post(response["Location"], {"code": first, "action": "verify"}).status_code == 400  # the old one
    assert client.post(response["Location"], {"code": second, "action": "verify"}).status_code == 302


def test_the_page_says_we_sent_it_when_the_publish_worked(client, django_capture_on_commit_callbacks):
    response = register(client, django_capture_on_commit_callbacks)
    page = client.get(response["Location"]).content.decode()
    assert ON_ITS_WAY not in page and "We sent a 6-digit code" in page and "We sent a link" in page


# --- the beat sends them once Redis is back -----------------------------------------------


def test_the_beat_sends_a_code_and_link_whose_publish_failed_once_and_both_verify(
    client, redis_outage, stub_providers, publishes, logs, django_capture_on_commit_callbacks, beat
):
    redis_outage.down()
    pending = register(client, django_capture_on_commit_callbacks)["Location"]
    originals = published_payloads(publishes)
    assert stub_providers.received() == []
    redis_outage.up()

    assert beat() == 2
    assert len(sms_codes(stub_providers)) == 1 and len(email_links(stub_providers)) == 1
    assert beat() == 0  # sent: never again
    # The original task, had it reached a worker late after all, sends nothing.
    assert send_single_message.apply(args=(originals,)).get() == [None, None]
    (code,) = sms_codes(stub_providers)
    (link,) = email_links(stub_providers)
    assert len(stub_providers.received()) == 2
    assert client.post(pending, {"code": code, "action": "verify"}).status_code == 302
    assert client.get(link).status_code == 302
    citizen = Citizen.objects.get()
    assert citizen.phone_verified_at and citizen.email_verified_at
    assert_no_contact_in(logs)


def test_the_code_sent_again_is_the_code_that_was_lost_in_the_citizens_language(
    client, redis_outage, stub_providers, publishes, django_capture_on_commit_callbacks, beat
):
    redis_outage.down()
    register(client, django_capture_on_commit_callbacks, **{"contact-preferred_language": "fa"})
    (lost_sms, _lost_email) = published_payloads(publishes)
    redis_outage.up()
    beat()
    (sms,) = stub_providers.received("sms")
    assert sms["body"] == lost_sms["body"]  # word for word: a copy and a late original agree
    assert not sms["body"].startswith("Your embassy registration code")  # in Dari
    assert len(email_links(stub_providers)) == 1


def test_a_code_sent_again_later_says_how_many_minutes_are_left(
    client, redis_down, stub_providers, django_capture_on_commit_callbacks, beat
):
    register(client, django_capture_on_commit_callbacks, **{"contact-email": ""})
    redis_down.up()
    Verification.objects.update(expires_at=timezone.now() + datetime.timedelta(minutes=6, seconds=30))
    beat()
    (sms,) = stub_providers.received("sms")
    assert "expires in 7 minutes" in sms["body"]


def test_an_expired_verification_is_not_sent_again(
    client, redis_outage, stub_providers, publishes, django_capture_on_commit_callbacks, beat
):
    redis_outage.down()
    register(client, django_capture_on_commit_callbacks)
    originals = published_payloads(publishes)
    redis_outage.up()
    Verification.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))

    assert beat() == 0
    assert send_single_message.apply(args=(originals,)).get() == [None, None]  # nor by a late task
    assert stub_providers.received() == []


def test_one_about_to_expire_is_not_sent_again_either(
    client, redis_outage, stub_providers, django_capture_on_commit_callbacks, settings, beat
):
    redis_outage.down()
    register(client, django_capture_on_commit_callbacks)
    redis_outage.up()
    Verification.objects.update(expires_at=timezone.now() + datetime.timedelta(seconds=30))
    assert settings.VERIFICATION_REQUEUE_MIN_VALID_SECONDS > 30
    assert beat() == 0 and stub_providers.received() == []


def test_a_verified_contact_is_not_sent_its_code_again(
    client, redis_outage, stub_providers, django_capture_on_commit_callbacks, beat
):
    redis_outage.down()
    pending = register(client, django_capture_on_commit_callbacks, **{"contact-email": ""})["Location"]
    redis_outage.up()
    code = services.verification_code(Verification.objects.get())  # as if it had come after all
    assert client.post(pending, {"code": code, "action": "verify"}).status_code == 302
    assert beat() == 0 and stub_providers.received() == []


# --- a task Redis lost, or that is merely slow ----------------------------------------------


@pytest.mark.parametrize("first", ["original", "copy"])
def test_a_slow_original_and_the_beats_copy_send_one_code(
    first, client, held, stub_providers, django_capture_on_commit_callbacks, beat
):
    pending = register(client, django_capture_on_commit_callbacks)["Location"]
    (original,) = held.call_args_list
    make_overdue(queued_ago=120, created_ago=121)
    assert beat() == 2  # one task again, for the citizen's code and link
    (copy,) = held.call_args_list[1:]
    order = [original, copy] if first == "original" else [copy, original]

    results = [send_single_message.apply(args=call.args[0]).get() for call in order]
    assert results[1] == [None, None]  # the second sends nothing
    assert len(stub_providers.received("sms")) == 1 and len(stub_providers.received("email")) == 1
    (code,) = sms_codes(stub_providers)
    assert client.post(pending, {"code": code, "action": "verify"}).status_code == 302


def test_a_task_queued_moments_ago_is_left_alone(client, held, django_capture_on_commit_callbacks, settings, beat):
    register(client, django_capture_on_commit_callbacks)
    make_overdue(queued_ago=settings.VERIFICATION_REQUEUE_AFTER_SECONDS - 5, created_ago=100)
    assert beat() == 0
    assert held.call_count == 1


def test_a_long_queue_gets_a_copy_now_and_then_not_at_every_beat(
    client, held, django_capture_on_commit_callbacks, beat
):
    register(client, django_capture_on_commit_callbacks)
    # Copied once after 2 minutes; it has now waited 1 minute of the next 2: not yet.
    make_overdue(queued_ago=60, created_ago=180)
    assert beat() == 0
    make_overdue(queued_ago=120, created_ago=240)  # as long as it had waited before: again
    assert beat() == 2
    # However long it waited before, four minutes (4 x VERIFICATION_REQUEUE_AFTER_SECONDS) are enough.
    Verification.objects.update(expires_at=timezone.now() + datetime.timedelta(hours=1))
    make_overdue(queued_ago=230, created_ago=1800)
    assert beat() == 0
    make_overdue(queued_ago=241, created_ago=1800)
    assert beat() == 2


def test_two_passes_at_once_queue_each_message_once(client, held, django_capture_on_commit_callbacks, beat):
    register(client, django_capture_on_commit_callbacks)
    make_overdue(queued_ago=120, created_ago=121)
    assert beat() == 2
    assert beat() == 0  # the first marked them queued now
    assert held.call_count == 2


def test_a_code_waiting_for_a_paused_channel_is_not_copied_before_the_pause_ends(
    client, held, stub_providers, django_capture_on_commit_callbacks, beat
):
    from alerts.channels.base import ChannelError

    pause = pauses.pause_channel("sms", ChannelError("refused", permanent=False, code="20003", account=True))
    ChannelPause.objects.filter(pk=pause.pk).update(until=timezone.now() + datetime.timedelta(seconds=600))
    pauses.forget()
    register(client, django_capture_on_commit_callbacks, **{"contact-email": ""})
    (original,) = held.call_args_list
    send_single_message.apply(args=original.args[0])  # the worker: paused, so it waits

    verification = Verification.objects.get()
    assert verification.sent_at is None
    wait = (verification.queued_at - timezone.now()).total_seconds()
    assert 600 - 5 < wait < 600 + PAUSE_JITTER_SECONDS[1] + 5  # queued for the pause's end
    assert beat() == 0
    assert stub_providers.received("sms") == []


def test_a_code_the_provider_did_not_take_is_free_for_its_retry(stub_providers):
    verification_message = _one_code()
    stub_providers.fail_next(1, api="sms", twilio_code=20429, http_status=429)
    # In-process the retry runs at once: it claims the code the first try gave back.
    send_single_message.apply(args=(verification_message,), throw=False)

    assert [r["status"] for r in stub_providers.received("sms")] == [429, 201]
    assert Verification.objects.get().sent_at is not None
    assert send_single_message.apply(args=(verification_message,)).get() is None  # and no third


def test_a_code_the_provider_refused_for_good_is_not_sent_again(stub_providers, beat):
    verification_message = _one_code()
    stub_providers.fail_next(1, api="sms", twilio_code=21211, http_status=400)  # invalid number
    send_single_message.apply(args=(verification_message,))
    Verification.objects.update(queued_at=None)
    assert beat() == 0
    assert [r["status"] for r in stub_providers.received("sms")] == [400]


def _one_code() -> dict:
    citizen, _token = services.register_citizen(
        {"full_name": "Sara", "phone": PHONE, "preferred_language": "en"}, {"country": "AF", "lives_here": True}, []
    )
    verification = Verification.objects.get()
    return services._verification_message(citizen, verification, services.verification_code(verification))


def test_messages_queued_before_this_change_are_sent_as_before(stub_providers):
    from alerts.notify import message_payload

    old = message_payload("sms", PHONE, "Your code is 123456.", reference="verification:999")
    assert "verification" not in old
    assert send_single_message.apply(args=(old,)).get().startswith("SM")


def test_codes_are_different_for_each_verification_and_only_the_sent_one_verifies(
    client, django_capture_on_commit_callbacks
):
    for i in range(3):
        register(client, django_capture_on_commit_callbacks, **{"contact-phone": f"+93 70 123 45{i:02d}"})
    rows = list(Verification.objects.filter(channel="sms"))
    codes = {services.verification_code(row) for row in rows}
    assert len(codes) == 3
    assert all(services._code_matches(row, services.verification_code(row)) for row in rows)
    assert all(services.code_to_send_again(row) == services.verification_code(row) for row in rows)


# --- the real pipeline: a worker and its beat ------------------------------------------------


def worker_environment(provider_stub) -> dict[str, str]:
    from tests.pipeline.e2e import worker_env

    env, _sender = worker_env(provider_stub, VERIFICATION_REQUEUE_EVERY_SECONDS=1, LOG_LEVEL="INFO")
    return env


def tasks_run(worker) -> int:
    return len(re.findall(r"send_single_message\[[^\]]+\] succeeded", worker.log()))


@pytest.mark.worker
def test_with_a_real_worker_a_code_whose_publish_failed_goes_out_once_redis_is_back(
    celery_workers, redis_outage, provider_stub, publishes
):
    client = Client()
    redis_outage.down()
    response = client.post("/", valid_form())
    assert response.status_code == 302
    assert ON_ITS_WAY in client.get(response["Location"]).content.decode()
    (originals,) = publishes.call_args_list
    redis_outage.up()

    worker = celery_workers.start("codes", env=worker_environment(provider_stub), beat=True)
    wait_until(lambda: provider_stub.received("sms") and provider_stub.received("email"), 60, what="code and link")
    # The original task reaches the worker late after all: it sends nothing.
    send_single_message.apply_async(*originals.args, **originals.kwargs)
    wait_until(lambda: tasks_run(worker) >= 2, 30, what="the late original to run")
    wait_until(lambda: worker.log().count("requeue_verification_messages[") >= 6, 30, what="a few more beats")

    assert len(provider_stub.received("sms")) == 1 and len(provider_stub.received("email")) == 1
    (code,) = sms_codes(provider_stub)
    assert client.post(response["Location"], {"code": code, "action": "verify"}).status_code == 302
    (link,) = email_links(provider_stub)
    assert client.get(link).status_code == 302
    for trace in CONTACT_TRACES:
        assert trace not in worker.log()


@pytest.mark.worker
def test_with_a_real_worker_a_task_redis_lost_is_sent_by_the_beat_once(
    celery_workers, provider_stub, django_capture_on_commit_callbacks
):
    import redis
    from django.conf import settings

    from tests.fixtures.worker import SESSION_QUEUE

    client = Client()
    response = client.post("/", valid_form())
    assert response.status_code == 302
    broker = redis.Redis.from_url(settings.REDIS_URL)
    assert broker.llen(SESSION_QUEUE) == 1
    broker.delete(SESSION_QUEUE)  # Redis restarted without the task: it keeps nothing on disk
    broker.close()
    make_overdue(queued_ago=120, created_ago=121)

    celery_workers.start("codes", env=worker_environment(provider_stub), beat=True)
    wait_until(lambda: provider_stub.received("sms") and provider_stub.received("email"), 60, what="code and link")
    (code,) = sms_codes(provider_stub)
    assert client.post(response["Location"], {"code": code, "action": "verify"}).status_code == 302
    assert len(provider_stub.received("email")) == 1


@pytest.mark.worker
def test_with_a_real_worker_a_slow_original_and_its_copy_send_one_code(celery_workers, provider_stub, beat):
    client = Client()
    response = client.post("/", valid_form())  # its task waits: no worker yet
    make_overdue(queued_ago=120, created_ago=121)
    assert beat() == 2  # the beat's copy, queued behind the original

    worker = celery_workers.start("codes", env=worker_environment(provider_stub))
    wait_until(lambda: tasks_run(worker) >= 2, 60, what="the original and the copy to run")
    assert len(provider_stub.received("sms")) == 1 and len(provider_stub.received("email")) == 1
    (code,) = sms_codes(provider_stub)
    assert client.post(response["Location"], {"code": code, "action": "verify"}).status_code == 302
