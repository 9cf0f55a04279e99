"""Exactly once under contention: workers claiming the same deliveries at the same time,
on PostgreSQL (the claim is one statement there: each id looked up by key, locked with
SKIP LOCKED, and checked on the locked, current row)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection

from alerts.models import Alert, Delivery
from alerts.services import fanout
from tests.factories import AlertFactory, CitizenFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_workers_racing_for_the_same_ids_claim_each_exactly_once() -> None:
    assert connection.vendor == "postgresql"
    alert = AlertFactory(state=Alert.State.SENDING)
    citizens = CitizenFactory.create_batch(5)
    Delivery.objects.bulk_create(
        Delivery(alert=alert, channel="email", address=f"p{i}@example.org", citizen=citizens[i % 5]) for i in range(300)
    )
    ids = list(Delivery.objects.filter(alert=alert).values_list("pk", flat=True))
    claimed: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(6)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait()
            while True:
                rows = fanout._claim(alert.pk, "email", ids, 7)  # every worker is given every id
                if not rows:
                    return
                with lock:
                    claimed.extend(r.pk for r in rows)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(claimed) == sorted(ids), Counter(claimed).most_common(3)
    states = Counter(Delivery.objects.filter(alert=alert).values_list("state", "attempts"))
    assert states == {(Delivery.State.SENDING, 1): 300}


def test_a_claim_takes_nothing_of_another_alert_or_channel_even_when_given_its_ids() -> None:
    mine, other = AlertFactory(state=Alert.State.SENDING), AlertFactory(state=Alert.State.SENDING)
    citizen = CitizenFactory()
    a = Delivery.objects.create(alert=mine, channel="sms", address="+93700000001", citizen=citizen)
    b = Delivery.objects.create(alert=other, channel="sms", address="+93700000001", citizen=citizen)
    c = Delivery.objects.create(alert=mine, channel="email", address="x@example.org", citizen=citizen)
    rows = fanout._claim(mine.pk, "sms", [a.pk, b.pk, c.pk], 10)
    assert [r.pk for r in rows] == [a.pk]
    assert rows[0].citizen is not None and rows[0].citizen.full_name == citizen.full_name
    assert set(Delivery.objects.filter(pk__in=[b.pk, c.pk]).values_list("state", flat=True)) == {Delivery.State.QUEUED}


def test_nothing_is_claimed_once_the_alert_stopped_sending() -> None:
    alert = AlertFactory(state=Alert.State.ABORTED)
    d = Delivery.objects.create(alert=alert, channel="sms", address="+93700000002", citizen=CitizenFactory())
    assert fanout._claim(alert.pk, "sms", [d.pk], 10) == []


def test_a_round_claims_up_to_its_limit_in_the_order_of_the_ids_and_leaves_the_rest() -> None:
    alert = AlertFactory(state=Alert.State.SENDING)
    citizen = CitizenFactory()
    rows = Delivery.objects.bulk_create(
        Delivery(alert=alert, channel="sms", address=f"+9370000{i:04d}", citizen=citizen) for i in range(20)
    )
    ids = [r.pk for r in rows]
    Delivery.objects.filter(pk=ids[1]).update(state=Delivery.State.SENT)  # not claimable: passed over
    claimed = fanout._claim(alert.pk, "sms", list(reversed(ids)), 5)  # the claim sorts the ids itself
    assert [r.pk for r in claimed] == [ids[0], *ids[2:6]]
    assert Delivery.objects.filter(pk__in=ids[6:], state=Delivery.State.QUEUED).count() == 14
