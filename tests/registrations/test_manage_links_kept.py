"""A self-service link asked for while Redis is down arrives once Redis is back, once.

Each link asked for on ``/manage/`` is recorded on a ``ManageLinkRequest`` row in
PostgreSQL (``registrations.manage_links``) before its task is published. When the
publish fails (Redis down: the cache and broker at a closed port), the row waits and the
beat's ``requeue_verification_messages`` sends it once Redis is back; asking again meanwhile
adds nothing. A task claims the row before the provider is asked, so a late original and
the beat's copy send one link. An unknown contact leaves nothing behind and gets nothing,
and its page is the registered contact's, word for word. Through the real SDKs to the
provider stub; the last test runs a real Celery worker and beat.
"""

from __future__ import annotations

import datetime
import json
import re

import pytest
from django.test import Client
from django.utils import timezone

from alerts.tasks import send_single_message
from registrations.models import ManageLinkRequest
from registrations.tasks import requeue_verification_messages
from tests.factories import CitizenFactory
from tests.fixtures.worker import wait_until
from tests.registrations.test_redis_down import CONTACT_TRACES

pytestmark = pytest.mark.django_db

PHONE = "+93701234567"
EMAIL = "sara@example.org"
WILL_COME = "a link will be sent to it as soon as they go out again"


@pytest.fixture
def citizen():
    return CitizenFactory(phone=PHONE, email=EMAIL)


@pytest.fixture
def ask(client, django_capture_on_commit_callbacks):
    """Ask for the link on the page; what the request queues after its commit runs
    before the response comes back, as in production."""

    def post(contact: str):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/manage/", {"contact": contact})

    return post


@pytest.fixture
def beat(django_capture_on_commit_callbacks):
    def run() -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return requeue_verification_messages.apply().get()

    return run


@pytest.fixture
def outage(redis_outage, settings):
    """Redis down for the page's question too (``broker_status`` pings REDIS_URL)."""
    settings.REDIS_URL = redis_outage.url
    return redis_outage


def manage_links(stub, channel: str) -> list[str]:
    """The self-service links the stub received on ``channel`` (accepted requests)."""
    links = []
    for record in stub.received(channel):
        if record["status"] >= 300:
            continue
        text = record["body"] if channel == "sms" else json.dumps(record["json"] or json.loads(record["body"]))
        links += re.findall(r"http://testserver(/manage/[^\s\"\\]+)", text)
    return links


def page_text(response) -> str:
    return response.content.decode().split("<main", 1)[-1]


@pytest.mark.parametrize("contact, channel", [(EMAIL, "email"), (PHONE, "sms")])
def test_a_link_asked_for_while_redis_is_down_arrives_once_when_it_is_back(
    client, citizen, ask, beat, outage, stub_providers, contact, channel
):
    outage.down()
    for _ in range(3):  # nothing came, so they ask again, and again
        response = ask(contact)
        assert response.status_code == 200 and WILL_COME in response.content.decode()
    (waiting,) = ManageLinkRequest.objects.all()
    assert (waiting.citizen_id, waiting.channel, waiting.queued_at) == (citizen.pk, channel, None)
    beat()  # the beat cannot publish either: it still waits
    assert ManageLinkRequest.objects.get().queued_at is None
    assert stub_providers.received() == []

    outage.up()
    assert beat() == 1
    (link,) = manage_links(stub_providers, channel)
    assert len(stub_providers.received()) == 1
    assert beat() == 0 and not ManageLinkRequest.objects.exists()
    assert len(stub_providers.received()) == 1  # once, however often they asked
    page = client.get(link)
    assert page.status_code == 200 and citizen.full_name in page.content.decode()


def test_an_unknown_contact_gets_nothing_and_its_page_is_the_same(citizen, ask, beat, outage, stub_providers):
    outage.down()
    unknown, registered = ask("nobody@example.org"), ask(EMAIL)
    assert unknown.status_code == registered.status_code == 200
    assert page_text(unknown) == page_text(registered) and WILL_COME in page_text(unknown)
    assert list(ManageLinkRequest.objects.values_list("citizen_id", flat=True)) == [citizen.pk]

    outage.up()
    assert beat() == 1
    (sent,) = stub_providers.received()
    assert "nobody@" not in json.dumps(sent["json"] or sent["body"])
    assert len(manage_links(stub_providers, "email")) == 1


def test_the_rate_limits_still_hold_and_what_was_let_through_goes_once(
    ask, citizen, beat, outage, stub_providers, settings
):
    settings.REGISTRATION_RATE_PER_ADDRESS = (2, 3600)
    outage.down()
    assert [ask(EMAIL).status_code for _ in range(3)] == [200, 200, 429]
    outage.up()
    assert beat() == 1 and len(manage_links(stub_providers, "email")) == 1


def test_with_redis_up_the_page_says_the_link_was_sent_and_it_was(ask, citizen, stub_providers):
    response = ask(EMAIL)
    assert "we have sent it a link" in response.content.decode() and WILL_COME not in response.content.decode()
    assert len(manage_links(stub_providers, "email")) == 1
    assert not ManageLinkRequest.objects.exists()  # done with once the provider took it


def test_a_task_redis_lost_is_sent_by_the_beat_and_the_late_original_sends_nothing(
    ask, citizen, beat, held, stub_providers
):
    ask(EMAIL)
    (original,) = held.call_args_list
    held.reset_mock()
    now = timezone.now()
    ManageLinkRequest.objects.update(
        created_at=now - datetime.timedelta(seconds=121), queued_at=now - datetime.timedelta(seconds=120)
    )
    assert beat() == 1
    (copy,) = held.call_args_list
    for call in (copy, original):  # the copy first, then the original after all
        send_single_message.apply(args=call.args[0])
    assert len(manage_links(stub_providers, "email")) == 1
    assert PHONE not in copy.kwargs["argsrepr"] and EMAIL not in copy.kwargs["argsrepr"]


def test_asking_again_while_one_is_on_its_way_adds_nothing(ask, citizen, held, stub_providers):
    ask(EMAIL)
    ask(EMAIL)
    assert held.call_count == 1 and ManageLinkRequest.objects.count() == 1
    ask(PHONE)  # another channel: its own
    assert held.call_count == 2 and ManageLinkRequest.objects.count() == 2


def test_an_expired_request_or_a_contact_no_longer_confirmed_gets_nothing(ask, citizen, beat, outage, stub_providers):
    outage.down()
    ask(EMAIL)
    ask(PHONE)
    outage.up()
    ManageLinkRequest.objects.filter(channel="email").update(expires_at=timezone.now())
    citizen.phone_verified_at = None  # changed their number since, not confirmed yet
    citizen.save()
    assert beat() == 0
    assert stub_providers.received() == [] and not ManageLinkRequest.objects.exists()


@pytest.mark.worker
def test_with_a_real_worker_a_link_asked_for_while_redis_was_down_arrives_once(
    celery_workers, redis_outage, provider_stub, settings
):
    from tests.pipeline.e2e import worker_env

    CitizenFactory(phone=PHONE, email=EMAIL)
    client = Client()
    settings.REDIS_URL, redis_url = redis_outage.url, settings.REDIS_URL
    redis_outage.down()
    for _ in range(2):
        assert WILL_COME in client.post("/manage/", {"contact": EMAIL}).content.decode()
    redis_outage.up()
    settings.REDIS_URL = redis_url

    env, _sender = worker_env(provider_stub, VERIFICATION_REQUEUE_EVERY_SECONDS=1, LOG_LEVEL="INFO")
    worker = celery_workers.start("links", env=env, beat=True)
    wait_until(lambda: manage_links(provider_stub, "email"), 60, what="the link")
    wait_until(lambda: worker.log().count("requeue_verification_messages[") >= 6, 30, what="a few more beats")
    (link,) = manage_links(provider_stub, "email")
    assert len(provider_stub.received()) == 1
    assert client.get(link).status_code == 200
    for trace in CONTACT_TRACES:
        assert trace not in worker.log()


def test_a_link_the_provider_did_not_take_gives_way_to_one_asked_for_since(citizen, ask, held, stub_providers):
    from registrations import manage_links

    ask(EMAIL)
    first = ManageLinkRequest.objects.get()
    claimed_at = manage_links.claim(first.pk)
    ask(EMAIL)  # asked again while the first is with the provider
    assert ManageLinkRequest.objects.count() == 2

    manage_links.release(first.pk, claimed_at, retry_at=timezone.now())  # the provider did not take it
    (waiting,) = ManageLinkRequest.objects.all()
    assert waiting.pk != first.pk and waiting.sent_at is None  # one waits: the second
