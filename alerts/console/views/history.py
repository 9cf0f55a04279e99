"""History: every alert with its texts, people, audience and delivery outcome."""

from __future__ import annotations

from collections import defaultdict

from django.core.paginator import Paginator
from django.db.models import Count, Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from alerts.console.compose import expiry_outcome
from alerts.console.permissions import console_view
from alerts.models import Alert, AlertText, Delivery

PAGE_SIZE = 25


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
        .order_by("-created_at", "-pk")
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
    counts = delivery_counts([alert.pk for alert in page.object_list])
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
            }
        )
    return render(
        request,
        "alerts/console/history.html",
        {"page": page, "rows": rows, "mode": mode, "state": state, "alert_states": Alert.State.choices},
    )
