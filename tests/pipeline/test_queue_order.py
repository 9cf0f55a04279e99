"""A worker consuming every queue takes its tasks from each in turn: no channel's backlog
holds back the other's tasks."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from kombu import Connection, Exchange, Queue

pytestmark = pytest.mark.redis


def _drain(published: list[str]) -> list[str]:
    """Publish one message per entry ("celery", "email", "sms") to queues of our own named
    as the project's, then consume them all as a worker of every queue would; return the
    queues in the order their messages came."""
    prefix = f"test-queues-{uuid.uuid4().hex[:8]}-"
    roles = {"celery": settings.CELERY_TASK_DEFAULT_QUEUE, **settings.ALERT_SEND_QUEUES}
    by_name = {q.name: q for q in settings.CELERY_TASK_QUEUES}
    queues = {
        role: Queue(prefix + name, Exchange(prefix + name), routing_key=prefix + name) for role, name in roles.items()
    }
    assert set(by_name) == set(roles.values())  # the worker's queues are these three
    received: list[str] = []
    role_of = {q.routing_key: role for role, q in queues.items()}
    with Connection(settings.REDIS_URL, transport_options=dict(settings.CELERY_BROKER_TRANSPORT_OPTIONS)) as conn:
        producer = conn.Producer()
        try:
            for role in published:
                q = queues[role]
                producer.publish({}, exchange=q.exchange, routing_key=q.routing_key, declare=[q])

            def on_message(body: dict[str, object], message: object) -> None:
                received.append(role_of[message.delivery_info["routing_key"]])  # type: ignore[attr-defined]
                message.ack()  # type: ignore[attr-defined]

            consumed = [queues[role] for role in ("celery", "email", "sms")]
            with conn.Consumer(consumed, callbacks=[on_message], prefetch_count=1):
                for _ in published:
                    conn.drain_events(timeout=5)
        finally:
            for q in queues.values():
                q(conn.channel()).delete()
    return received


def test_a_backlog_of_sms_does_not_hold_back_email_nor_the_other_way_round() -> None:
    got = _drain(["sms"] * 5 + ["email"] * 5)
    assert "email" in got[:2] and "sms" in got[:2]
    got = _drain(["email"] * 5 + ["sms"] * 5)
    assert "email" in got[:2] and "sms" in got[:2]
