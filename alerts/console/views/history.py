"""History: every alert with its texts, people, audience and delivery outcome.

A ready cancellation (a DRAFT with msgType Cancel, drafted when a live alert is
approved) is listed straight after the alert it would cancel, not by its own time: its
title ("Cancelled: ...") at the top of the page read as if the alert had been cancelled.
"""

from __future__ import annotations

from collections import defaultdict

from django.core.paginator import Paginator
from django.db.models import Case, Count, F, IntegerField, Prefetch, Q, Value, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from alerts.console.compose import expiry_outcome
from alerts.console.permissions import console_view
from alerts.models import Alert, AlertText, Delivery

PAGE_SIZE = 25

# A prepared cancellation that nobody has sent (nor submitted for approval).
READY_CANCELLATION = Q(state=Alert.State.DRAFT, msg_type=Alert.MsgType.CANCEL, references__isnull=False)


def is_ready_cancellation(alert: Alert) -> bool:
    """Whether ``alert`` is a cancellation drafted in advance and not sent (``READY_CANCELLATION``)."""
    return alert.state == Alert.State.DRAFT and alert.msg_type == Alert.MsgType.CANCEL and bool(alert.references_id)


def ready_cancellations(alert_ids: list[int]) -> dict[int, list[Alert]]:
    """One query: {alert id: its ready cancellations, oldest first} for the given alerts."""
    found: dict[int, list[Alert]] = defaultdict(list)
    for cancellation in Alert.objects.filter(READY_CANCELLATION, references_id__in=alert_ids).order_by("pk"):
        found[cancellation.references_id].append(cancellation)
    return found


def delivery_counts(alert_ids: list[int]) -> dict[int, dict[str, int]]:
    """One grouped query: {alert id: {state: count}} for the given alerts."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (
        Delivery.objects.filter(alert_id__in=alert_ids).order_by().values("alert_id", "state").annotate(n=Count("pk"))
    )
    for row in rows:
        counts[row["alert_id"]][row["state"]] = row["n"]
    return counts


@console_view()
def history(request: HttpRequest) -> HttpResponse:
    alerts = (
        Alert.objects.select_related("created_by", "approved_by", "references", "aborted_by")
        .prefetch_related(Prefetch("texts", queryset=AlertText.objects.order_by("language")), "areas", "excluded_areas")
        .annotate(
            ready=Case(When(READY_CANCELLATION, then=Value(1)), default=Value(0), output_field=IntegerField()),
            # Where the row sorts: a ready cancellation sits under the alert it cancels.
            anchor_at=Case(When(READY_CANCELLATION, then=F("references__created_at")), default=F("created_at")),
            anchor_pk=Case(When(READY_CANCELLATION, then=F("references_id")), default=F("pk")),
        )
        .order_by("-anchor_at", "-anchor_pk", "ready", "-created_at", "-pk")
    )
    mode = request.GET.get("mode", "")
    if mode == "live":
        alerts = alerts.filter(is_test=False)
    elif mode == "test":
        alerts = alerts.filter(is_test=True)
    state = request.GET.get("state", "")
    if state in Alert.State.values:
        alerts = alerts.filter(state=state)
    page = Paginator(alerts, PAGE_SIZE).get_page(request.GET.get("page"))
    ids = [alert.pk for alert in page.object_list]
    counts = delivery_counts(ids)
    ready = ready_cancellations(ids)
    states = [(value, label) for value, label in Delivery.State.choices]
    rows = []
    for alert in page.object_list:
        by_state = counts.get(alert.pk, {})
        rows.append(
            {
                "alert": alert,
                "deliveries": [(label, by_state.get(value, 0), value) for value, label in states],
                "delivery_total": sum(by_state.values()),
                "audience": alert.audience_summary or {},
                "expiry_outcome": expiry_outcome(alert),
                "is_ready_cancellation": is_ready_cancellation(alert),
                "ready_cancellations": ready.get(alert.pk, []),
            }
        )
    return render(
        request,
        "alerts/console/history.html",
        {"page": page, "rows": rows, "mode": mode, "state": state, "alert_states": Alert.State.choices},
    )
