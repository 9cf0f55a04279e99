"""A worker free for its next task takes it from the default queue first, then email, then SMS."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from kombu import Connection, Exchange, Queue

pytestmark = pytest.mark.redis


def test_the_queues_are_consumed_in_the_order_of_priority_not_in_turn() -> None:
    """With the project's broker options, a consumer of all three queues gets every email
    message before any SMS one, whatever order they were published in."""
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["queue_order_strategy"] == "priority"
    assert [q.name for q in settings.CELERY_TASK_QUEUES] == [
        settings.CELERY_TASK_DEFAULT_QUEUE,
        settings.ALERT_SEND_QUEUES["email"],
        settings.ALERT_SEND_QUEUES["sms"],
    ]
    prefix = f"test-priority-{uuid.uuid4().hex[:8]}-"
    names = [prefix + q.name for q in settings.CELERY_TASK_QUEUES]  # same order, queues of our own
    queues = [Queue(name, Exchange(name), routing_key=name) for name in names]
    default, email, sms = queues
    options = dict(settings.CELERY_BROKER_TRANSPORT_OPTIONS)
    received: list[str] = []
    with Connection(settings.REDIS_URL, transport_options=options) as conn:
        producer = conn.Producer()
        try:
            for i in range(3):
                producer.publish({"n": i}, exchange=sms.exchange, routing_key=sms.routing_key, declare=[sms])
            for i in range(2):
                producer.publish({"n": i}, exchange=email.exchange, routing_key=email.routing_key, declare=[email])
            producer.publish({"n": 0}, exchange=default.exchange, routing_key=default.routing_key, declare=[default])

            def on_message(body: dict[str, int], message: object) -> None:
                received.append(message.delivery_info["routing_key"].removeprefix(prefix))  # type: ignore[attr-defined]
                message.ack()  # type: ignore[attr-defined]

            with conn.Consumer(queues, callbacks=[on_message], prefetch_count=1):
                for _ in range(6):
                    conn.drain_events(timeout=5)
        finally:
            for queue in queues:
                queue(conn.channel()).delete()
    email_name, sms_name = settings.ALERT_SEND_QUEUES["email"], settings.ALERT_SEND_QUEUES["sms"]
    assert received == [settings.CELERY_TASK_DEFAULT_QUEUE, email_name, email_name, sms_name, sms_name, sms_name]
