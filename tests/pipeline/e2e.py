"""Shared pieces of the end-to-end tests: many people quickly, worker environments."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from django.utils import timezone

from alerts.models import Alert, Delivery
from alerts.services.alerts import approve_alert, submit_for_approval
from registrations.models import Citizen, Presence
from tests.pipeline.conftest import make_alert

# Pipeline tuning for tests: beat every second, short retry and stall windows.
FAST_PIPELINE = {
    "ALERT_START_DUE_EVERY_SECONDS": "1",
    "DELIVERY_SWEEP_EVERY_SECONDS": "1",
    "DELIVERY_RETRY_BASE_SECONDS": "0.3",
    "DELIVERY_RETRY_MAX_SECONDS": "2",
    "DELIVERY_MAX_ATTEMPTS": "10",
    "DELIVERY_REQUEUE_AFTER_SECONDS": "5",
    "DELIVERY_SENDING_STALE_SECONDS": "5",
    "ALERT_FANOUT_STALL_SECONDS": "3",
    "LOG_LEVEL": "WARNING",
}


def worker_env(stub: Any, **overrides: Any) -> tuple[dict[str, str], str]:
    """Environment pointing a worker at the stub, with its own SMS sender (rate-limit key)."""
    sender = "MG" + uuid.uuid4().hex
    env = dict(stub.environ())
    env.update(FAST_PIPELINE)
    env.update(
        {
            "TWILIO_MESSAGING_SERVICE_SID": sender,
            "TWILIO_FROM_NUMBER": "+15005550006",
            "EMAIL_FROM_ADDRESS": "alerts@embassy.example",
        }
    )
    env.update({k: str(v) for k, v in overrides.items()})
    return env, sender


def populate(count: int, *, country: str = "AF", region: str = "AF-KAB", phone_only: bool = False) -> list[Citizen]:
    """``count`` verified citizens present in ``region``, inserted in bulk."""
    now = timezone.now()
    tag = uuid.uuid4().hex[:6]
    start = Citizen.objects.count()
    citizens = Citizen.objects.bulk_create(
        [
            Citizen(
                full_name=f"Citizen {start + i}",
                phone=f"+4477{(start + i) % 100_000_000:08d}",
                phone_verified_at=now,
                email="" if phone_only else f"c{start + i}.{tag}@example.org",
                email_verified_at=None if phone_only else now,
                consent_at=now,
            )
            for i in range(count)
        ],
        batch_size=1000,
    )
    Presence.objects.bulk_create(
        [Presence(citizen=c, country=country, region=region, lives_here=True) for c in citizens], batch_size=1000
    )
    return citizens


def approve_live(author: Any, approver: Any, areas: list[Any], **fields: Any) -> Alert:
    """Submit and approve a live alert; the fan-out is queued when the approval commits."""
    alert = submit_for_approval(make_alert(author, areas=areas, **fields), by=author)
    approve_alert(alert, by=approver)
    alert.refresh_from_db()
    return alert


def accepted_counts(stub: Any, api: str) -> Counter[str]:
    """Messages the stub accepted, per destination address."""
    return Counter(to for r in stub.received(api) if r.get("status", 500) < 300 for to in r["to"])


def open_deliveries(alert: Alert) -> int:
    return Delivery.objects.filter(alert=alert, state__in=Delivery.OPEN_STATES).count()


def most_in_any_second(stamps: list[float]) -> int:
    """The most timestamps that fall in any one-second window."""
    stamps = sorted(stamps)
    best, start = 0, 0
    for end, t in enumerate(stamps):
        while t - stamps[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best
