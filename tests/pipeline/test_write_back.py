"""The write-back on PostgreSQL: every outcome recorded, rows found by primary key only.

A round's outcomes are written with a few UPDATEs (``fanout._sql_set``): rows sharing
their values (an email request's recipients: one message id) in one statement each,
rows with values of their own (an SMS round's SIDs) joined to their values in small
statements. No index begins with the state, and the sweep asks per open alert.
"""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts.channels import ChannelError, SendResult
from alerts.models import Alert, Delivery
from alerts.services import fanout
from tests.factories import AlertFactory, CitizenFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

D = Delivery.State


def _deliveries(alert: Alert, channel: str, n: int) -> list[int]:
    """``n`` QUEUED deliveries of ``alert`` on ``channel`` (a few citizens), their ids in order."""
    citizens = CitizenFactory.create_batch(3)
    address = "+9370{:07d}" if channel == "sms" else "p{}@example.org"
    Delivery.objects.bulk_create(
        Delivery(alert=alert, channel=channel, address=address.format(i), citizen=citizens[i % 3]) for i in range(n)
    )
    return list(Delivery.objects.filter(alert=alert, channel=channel).order_by("pk").values_list("pk", flat=True))


def test_an_email_round_is_written_in_one_statement_by_primary_key() -> None:
    assert connection.vendor == "postgresql"
    alert = AlertFactory(state=Alert.State.SENDING)
    ids = _deliveries(alert, "email", 1_000)
    rows = fanout._claim(alert.pk, "email", ids, 1_000)
    assert len(rows) == 1_000
    report = fanout.ChunkReport()
    with CaptureQueriesContext(connection) as captured:
        fanout._write_back(rows, [SendResult(provider_message_id="EMrequest1")] * len(rows), report)
    updates = [q for q in captured.captured_queries if q["sql"].startswith("UPDATE alerts_delivery")]
    assert len(updates) == 1 and "unnest" not in updates[0]["sql"]
    assert report.sent == 1_000
    assert set(Delivery.objects.filter(alert=alert).values_list("state", "provider_message_id")) == {
        (D.SENT, "EMrequest1")
    }


def test_an_sms_round_writes_each_message_its_own_sid_in_small_joins() -> None:
    alert = AlertFactory(state=Alert.State.SENDING)
    ids = _deliveries(alert, "sms", 250)
    rows = fanout._claim(alert.pk, "sms", ids, 250)
    results = [SendResult(provider_message_id=f"SM{row.pk:032d}") for row in rows]
    report = fanout.ChunkReport()
    with CaptureQueriesContext(connection) as captured:
        fanout._write_back(rows, results, report)
    updates = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("UPDATE alerts_delivery")]
    assert len(updates) == 3  # 100 + 100 + 50 rows, each joined to its own SIDs
    assert report.sent == 250
    assert dict(Delivery.objects.filter(alert=alert).values_list("pk", "provider_message_id")) == {
        pk: f"SM{pk:032d}" for pk in ids
    }


def test_a_round_s_retries_share_their_time_and_are_written_together() -> None:
    alert = AlertFactory(state=Alert.State.SENDING)
    ids = _deliveries(alert, "email", 300)
    rows = fanout._claim(alert.pk, "email", ids, 300)
    busy = ChannelError("rate limited", permanent=False, code="429", retry_after=None)
    before = timezone.now()
    report = fanout.ChunkReport()
    with CaptureQueriesContext(connection) as captured:
        fanout._write_back(rows, [busy] * len(rows), report)
    updates = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("UPDATE alerts_delivery")]
    assert len(updates) == 1
    assert report.retry == 300
    due = set(Delivery.objects.filter(alert=alert).values_list("state", "error_code", "next_attempt_at"))
    assert len(due) == 1
    ((state, code, at),) = due
    assert (state, code) == (D.RETRY, "429") and at > before


def test_only_rows_still_sending_are_written() -> None:
    alert = AlertFactory(state=Alert.State.SENDING)
    ids = _deliveries(alert, "sms", 120)
    rows = fanout._claim(alert.pk, "sms", ids, 120)
    # A status callback already said DELIVERED for one, and the sweep gave up on another.
    Delivery.objects.filter(pk=ids[0]).update(state=D.DELIVERED, provider_message_id="SMcallback")
    Delivery.objects.filter(pk=ids[1]).update(state=D.FAILED, error_code="unknown")
    Delivery.objects.filter(pk=ids[2]).update(state=D.SKIPPED)
    report = fanout.ChunkReport()
    fanout._write_back(rows, [SendResult(provider_message_id=f"SM{r.pk}") for r in rows], report)
    assert report.sent == 118  # not the DELIVERED or SKIPPED one; the "outcome unknown" one is corrected
    states = dict(Delivery.objects.filter(pk__in=ids[:3]).values_list("pk", "state"))
    assert states == {ids[0]: D.DELIVERED, ids[1]: D.SENT, ids[2]: D.SKIPPED}
    assert Delivery.objects.get(pk=ids[0]).provider_message_id == "SMcallback"


def test_status_callbacks_can_find_a_delivery_by_the_provider_s_id_through_its_index() -> None:
    alert = AlertFactory(state=Alert.State.SENDING)
    ids = _deliveries(alert, "sms", 3)
    Delivery.objects.filter(pk=ids[0]).update(state=D.SENT, provider_message_id="SM" + "a" * 32)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN SELECT id FROM alerts_delivery WHERE provider_message_id = %s", ["SM" + "a" * 32])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # The index leaves out rows not yet handed over (no id): it still serves any real id.
    assert "delivery_provider_message_id" in plan, plan


def test_the_sweep_looks_only_at_alerts_that_can_have_open_deliveries(settings) -> None:
    settings.DELIVERY_SENDING_STALE_SECONDS = 60
    now = timezone.now()
    sending = AlertFactory(state=Alert.State.SENDING)  # still fanning out
    aborted = AlertFactory(state=Alert.State.ABORTED, aborted_at=now)
    finished = AlertFactory(state=Alert.State.ABORTED, aborted_at=now, finished_at=now)
    sent = AlertFactory(state=Alert.State.SENT, finished_at=now)
    assert fanout._open_alert_ids() == sorted([sending.pk, aborted.pk])
    waiting = _deliveries(aborted, "email", 2)
    Delivery.objects.filter(pk=waiting[0]).update(state=D.RETRY)
    report = fanout.sweep_deliveries(now + datetime.timedelta(seconds=1))
    assert report.skipped_aborted == 2
    assert set(Delivery.objects.filter(alert=aborted).values_list("state", flat=True)) == {D.SKIPPED}
    assert Alert.objects.get(pk=aborted.pk).finished_at is not None
    assert fanout._open_alert_ids() == [sending.pk]
    del finished, sent


def test_no_index_of_the_deliveries_begins_with_the_state() -> None:
    """After any ANALYZE the planner believes almost no row is SENDING, yet the entries
    of every row ever claimed pile up dead under SENDING during an alert: a write-back
    sent through such an index read them all, in every round."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Delivery._meta.db_table)
    leading = {name: c["columns"][0] for name, c in constraints.items() if c["index"] and c["columns"]}
    assert "state" not in leading.values(), leading
