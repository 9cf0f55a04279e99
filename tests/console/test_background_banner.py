"""Staff see on every console page when work out of their sight has stopped: Redis (the
task queue) down, beat's sweep not running, a send queue's workers gone. Before, the
only place that said so was /healthz, which nobody in the console reads; an approver
pressed "Approve" and nothing happened, without a word."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache

from embassy import health
from tests.fixtures.redis_outage import closed_port

pytestmark = pytest.mark.django_db


def _page(client) -> str:  # type: ignore[no-untyped-def]
    health.forget_background()
    return client.get("/console/").content.decode()


def test_redis_down_says_nothing_is_being_sent(author_client, settings) -> None:
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    page = _page(author_client)
    assert 'data-kind="broker"' in page and "Nothing is being sent." in page
    assert "Approved alerts start" in page


@pytest.mark.redis
def test_a_sweep_not_run_for_ten_minutes_is_shown(author_client) -> None:
    cache.set(health.SWEEP_HEARTBEAT_KEY, time.time() - 600, timeout=None)
    page = _page(author_client)
    assert 'data-kind="sweep"' in page and "have not run for 10 minutes" in page


@pytest.mark.redis
def test_a_send_queue_without_workers_is_shown(author_client, settings) -> None:
    sms = settings.ALERT_SEND_QUEUES["sms"]
    email = settings.ALERT_SEND_QUEUES["email"]
    cache.set(health.QUEUE_HEARTBEAT_KEY + sms, time.time() - 1200, timeout=None)
    cache.set(health.QUEUE_HEARTBEAT_KEY + email, time.time(), timeout=None)
    page = _page(author_client)
    assert "SMS are not being sent." in page and "for 20 minutes" in page
    assert "Email is not being sent." not in page


@pytest.mark.redis
def test_nothing_is_shown_while_all_is_well_or_not_yet_known(author_client, settings) -> None:
    assert "background-problem" not in _page(author_client)  # no heartbeat recorded yet
    cache.set(health.SWEEP_HEARTBEAT_KEY, time.time() - 30, timeout=None)
    for queue in settings.ALERT_SEND_QUEUES.values():
        cache.set(health.QUEUE_HEARTBEAT_KEY + queue, time.time() - 60, timeout=None)
    assert "background-problem" not in _page(author_client)


@pytest.mark.redis
def test_a_slow_sms_sender_is_given_the_time_one_task_takes(author_client, settings) -> None:
    # One long code at 1 SMS/s: a task of SMS_TASK_CHUNK messages alone outlasts 5 minutes.
    settings.SMS_RATE_PER_SECOND = 1
    sms = settings.ALERT_SEND_QUEUES["sms"]
    cache.set(health.QUEUE_HEARTBEAT_KEY + sms, time.time() - 1200, timeout=None)
    assert "SMS are not being sent." not in _page(author_client)


def test_with_tasks_in_process_there_is_nothing_to_watch(author_client, settings) -> None:
    settings.REDIS_URL = ""
    assert "background-problem" not in _page(author_client)


def test_the_console_asks_at_most_every_few_seconds(author_client, monkeypatch) -> None:
    asked: list[int] = []
    monkeypatch.setattr(health, "_broker", lambda: asked.append(1) or "in-process")
    health.forget_background()
    for _ in range(5):
        author_client.get("/console/")
    assert len(asked) == 1


def test_the_banner_speaks_dari(author_client, settings) -> None:
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    author_client.post("/i18n/setlang/", {"language": "fa", "next": "/console/"})
    page = _page(author_client)
    assert "هیچ چیزی فرستاده نمی‌شود." in page and "Nothing is being sent." not in page
