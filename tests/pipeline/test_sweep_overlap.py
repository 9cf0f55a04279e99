"""Two sweeps at once never send one SMS twice.

A sweep looks up each stale SMS at the provider, one by one, each up to the provider's
timeout, so it can outlast its 15 s interval; a second beat started by mistake runs
sweeps side by side. The race: sweep A settles a stale row (not at the provider: due
again), it is queued and claimed afresh by a worker that is now sending it, and sweep B,
which had read the same stale row before, finishes its own look-up and marks the row,
now the worker's fresh claim, due again: a second message. Each settling is now bound
to the claim it looked at, and one sweep runs at a time.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from alerts.models import Delivery
from alerts.services import fanout
from alerts.services.fanout import SWEEP_LOCK_KEY, sweep_deliveries
from tests.pipeline.conftest import accepted, present, send_through_stub
from tests.pipeline.test_sending import fanned_out, left_sending

pytestmark = pytest.mark.django_db
D = Delivery.State


@pytest.fixture
def sending(stub_providers, settings):
    return send_through_stub(stub_providers, settings, "6")


@contextlib.contextmanager
def _another_sweep_holds_the_lock() -> Iterator[None]:
    """The sweep's advisory lock, held by another connection (another sweep) meanwhile."""
    params = connection.get_connection_params()
    other = psycopg.connect(
        host=params.get("host"),
        port=params.get("port"),
        user=params.get("user"),
        dbname=connection.settings_dict["NAME"],
    )
    try:
        assert other.execute("SELECT pg_try_advisory_lock(%s)", [SWEEP_LOCK_KEY]).fetchone() == (True,)
        yield
        other.execute("SELECT pg_advisory_unlock(%s)", [SWEEP_LOCK_KEY])  # not left to the backend's exit
    finally:
        other.close()


def _claimed_afresh_during_the_look_up(
    monkeypatch, delivery: Delivery, *, found: str | None
) -> list[datetime.datetime]:
    """While this sweep asks the provider about ``delivery``, another sweep settles it and a
    worker claims it again (a new ``claimed_at``). Returns that claim's time."""
    fresh: list[datetime.datetime] = []
    real = fanout._look_up

    def look_up(renderer, provider, row):  # type: ignore[no-untyped-def]
        answer = real(renderer, provider, row)
        now = timezone.now()
        Delivery.objects.filter(pk=delivery.pk).update(state=D.SENDING, claimed_at=now, attempts=2)
        fresh.append(now)
        return found if found is not None else answer

    monkeypatch.setattr(fanout, "_look_up", look_up)
    return fresh


@pytest.mark.parametrize("found", [None, "SM" + "0" * 32])
def test_a_row_claimed_afresh_during_the_look_up_is_left_to_its_new_claim(
    sending, afghanistan, author, approver, settings, monkeypatch, django_capture_on_commit_callbacks, found
) -> None:
    present(phone_only=True)
    alert = fanned_out(author, approver, [afghanistan], django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get(alert=alert)
    left_sending(delivery, settings)
    fresh = _claimed_afresh_during_the_look_up(monkeypatch, delivery, found=found)

    with django_capture_on_commit_callbacks(execute=True):
        report = sweep_deliveries()

    assert (report.reconciled_retry, report.reconciled_sent) == (0, 0)
    delivery.refresh_from_db()
    # Untouched: still the worker's claim, which will record its own answer.
    assert (delivery.state, delivery.claimed_at, delivery.provider_message_id) == (D.SENDING, fresh[0], "")
    assert accepted(sending, "sms") == []  # and nothing was queued to send it again


def test_a_row_claimed_afresh_is_not_ended_outcome_unknown(
    sending, afghanistan, author, approver, settings, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    present(phone_only=True)
    alert = fanned_out(author, approver, [afghanistan], django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get(alert=alert)
    long_ago = timezone.now() - datetime.timedelta(seconds=4 * settings.DELIVERY_SENDING_STALE_SECONDS)
    Delivery.objects.filter(pk=delivery.pk).update(state=D.SENDING, claimed_at=long_ago, attempts=1)

    def unreachable(renderer, provider, row):  # type: ignore[no-untyped-def]
        Delivery.objects.filter(pk=delivery.pk).update(claimed_at=timezone.now())  # claimed afresh meanwhile
        raise fanout.ChannelError("no answer", permanent=False, code="timeout", unreachable=True)

    monkeypatch.setattr(fanout, "_look_up", unreachable)
    assert sweep_deliveries().outcome_unknown == 0
    delivery.refresh_from_db()
    assert delivery.state == D.SENDING and delivery.error_code == ""


def test_a_sweep_does_nothing_while_another_one_runs(
    sending, afghanistan, author, approver, settings, django_capture_on_commit_callbacks, caplog
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's; the embedded SQLite runs one process")
    present(phone_only=True)
    alert = fanned_out(author, approver, [afghanistan], django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get(alert=alert)
    left_sending(delivery, settings)
    with _another_sweep_holds_the_lock():
        with django_capture_on_commit_callbacks(execute=True):
            report = sweep_deliveries()
        assert report.overlapped and report.reconciled_retry == 0
        assert Delivery.objects.get(pk=delivery.pk).state == D.SENDING
        assert "another sweep is still running" in caplog.text
    with django_capture_on_commit_callbacks(execute=True):
        report = sweep_deliveries()  # the other one finished: this one runs, and lets go
    assert not report.overlapped and report.reconciled_retry == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [SWEEP_LOCK_KEY])
        assert cursor.fetchone() == (True,)
        cursor.execute("SELECT pg_advisory_unlock(%s)", [SWEEP_LOCK_KEY])


# --- a provider that answers no look-up is asked once per round, and pauses ------------


def _unanswered_look_ups(monkeypatch) -> list[int]:
    asked: list[int] = []

    def look_up(renderer, provider, row):  # type: ignore[no-untyped-def]
        asked.append(row.pk)
        raise fanout.ChannelError("twilio: no answer within 10s", permanent=False, code="timeout", unreachable=True)

    monkeypatch.setattr(fanout, "_look_up", look_up)
    return asked


def test_a_sweep_stops_asking_after_the_first_look_up_goes_unanswered(
    sending, afghanistan, author, approver, settings, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    for _ in range(3):
        present(phone_only=True)
    alert = fanned_out(author, approver, [afghanistan], django_capture_on_commit_callbacks)
    for delivery in Delivery.objects.filter(alert=alert):
        left_sending(delivery, settings)
    asked = _unanswered_look_ups(monkeypatch)
    sweep_deliveries()
    assert len(asked) == 1  # not three waits of the timeout each
    assert set(Delivery.objects.filter(alert=alert).values_list("state", flat=True)) == {D.SENDING}


def test_a_send_round_stops_asking_after_the_first_look_up_goes_unanswered(
    sending, afghanistan, author, approver, settings, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    for _ in range(3):
        present(phone_only=True)
    alert = fanned_out(author, approver, [afghanistan], django_capture_on_commit_callbacks)
    ids = list(Delivery.objects.filter(alert=alert).values_list("pk", flat=True))
    # Each one's first attempt timed out: the next claim must look it up before sending.
    Delivery.objects.filter(pk__in=ids).update(state=D.RETRY, attempts=1, error_code="timeout", next_attempt_at=None)
    asked = _unanswered_look_ups(monkeypatch)
    report = fanout.send_delivery_chunk(alert.pk, "sms", ids)
    assert len(asked) == 1 and report.retry == 3
    assert accepted(sending, "sms") == []  # none sent blindly
    rows = Delivery.objects.filter(pk__in=ids)
    assert {(r.state, r.error_code) for r in rows} == {(D.RETRY, "timeout")}  # still looked up next time


def test_look_ups_that_go_unanswered_pause_the_channel(
    sending, afghanistan, author, approver, settings, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    from alerts.services import pauses

    settings.CHANNEL_OUTAGE_AFTER = 3
    present(phone_only=True)
    alert = fanned_out(author, approver, [afghanistan], django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get(alert=alert)
    asked = _unanswered_look_ups(monkeypatch)
    for _ in range(3):
        left_sending(delivery, settings)
        sweep_deliveries()
    assert len(asked) == 3
    pause = pauses.channel_pause("sms")
    assert pause is not None and pause.kind == "outage" and pause.code == "timeout"


def test_a_sweep_that_did_nothing_is_not_reported_as_a_sweep(settings) -> None:
    # /healthz's sweep_age_s must grow while another sweep holds the lock (stuck, or a
    # lock a transaction-mode pooler stranded): only sweeps that ran count.
    from django.core.cache import cache

    from alerts import tasks
    from embassy import health

    if connection.vendor != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    cache.delete(health.SWEEP_HEARTBEAT_KEY)
    with _another_sweep_holds_the_lock():
        tasks.sweep_deliveries()
        assert cache.get(health.SWEEP_HEARTBEAT_KEY) is None
    tasks.sweep_deliveries()
    assert cache.get(health.SWEEP_HEARTBEAT_KEY) is not None
