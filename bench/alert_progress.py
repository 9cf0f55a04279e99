"""Benchmark: what ``alert_progress`` costs while an alert with many deliveries sends.

Run against PostgreSQL (a throw-away test database is created and dropped)::

    TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/embassy_bench \\
        DJANGO_SETTINGS_MODULE=embassy.settings.test .venv/bin/python -m bench.alert_progress [deliveries]

It inserts one alert with N deliveries (default 100,000) spread over the states, then
times ``alert_progress`` (one grouped COUNT on the (alert, state, channel) index) with
the table freshly written (no vacuum yet, as during a send) and after VACUUM ANALYZE,
and prints the query plan. It reports; it asserts nothing.
"""

from __future__ import annotations

import statistics
import sys
import time

import django


def main(count: int) -> None:
    django.setup()
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases
    from django.utils import timezone

    old = setup_databases(verbosity=0, interactive=False)
    try:
        from alerts.models import Alert, Delivery
        from alerts.services.progress import alert_progress
        from tests.factories import AlertFactory

        alert = AlertFactory(state=Alert.State.SENDING, started_at=timezone.now())
        other = AlertFactory(state=Alert.State.SENT)
        states = [s for s, _ in Delivery.State.choices]
        started = time.perf_counter()
        for target, n in ((alert, count), (other, count // 2)):
            rows = [
                Delivery(
                    alert=target,
                    channel="sms" if i % 3 else "email",
                    address=f"+4477{i:08d}" if i % 3 else f"p{i}@example.org",
                    state=states[i % len(states)],
                )
                for i in range(n)
            ]
            Delivery.objects.bulk_create(rows, batch_size=5000)
        print(f"inserted {count + count // 2} deliveries in {time.perf_counter() - started:.1f}s")

        def measure(label: str) -> None:
            alert_progress(alert.pk)  # warm
            timings = []
            for _ in range(30):
                t = time.perf_counter()
                alert_progress(alert.pk)
                timings.append((time.perf_counter() - t) * 1000)
            print(
                f"{label}: alert_progress median {statistics.median(timings):.1f} ms, "
                f"p90 {sorted(timings)[int(len(timings) * 0.9)]:.1f} ms over {len(timings)} calls"
            )

        measure("freshly written")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE alerts_delivery")
        measure("after VACUUM ANALYZE")
        with connection.cursor() as cursor:
            cursor.execute(
                "EXPLAIN (ANALYZE, BUFFERS) SELECT channel, state, COUNT(*) FROM alerts_delivery "
                "WHERE alert_id = %s GROUP BY channel, state",
                [alert.pk],
            )
            print("\n".join(row[0] for row in cursor.fetchall()))
    finally:
        teardown_databases(old, verbosity=0)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
