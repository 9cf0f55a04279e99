"""The situation page: every Area, its level, who is there and what they last said."""

from __future__ import annotations

import datetime

from django.db.models import Case, F, IntegerField, Value, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from alerts.console.forms import SituationFilterForm
from alerts.console.permissions import console_view
from alerts.console.queries import STATUS_KEYS, areas_with_levels, tallies_by_place, tally_for
from alerts.levels import level_name

# A level change this recent puts its Area at the top of the page.
RECENT_CHANGE = datetime.timedelta(days=3)


@console_view()
def situation(request: HttpRequest) -> HttpResponse:
    form = SituationFilterForm(request.GET or None)
    areas = areas_with_levels()
    if form.is_valid():
        if form.cleaned_data.get("level"):
            areas = areas.filter(effective=form.cleaned_data["level"])
        if form.cleaned_data.get("country"):
            areas = areas.filter(country=form.cleaned_data["country"])
    recent_since = timezone.now() - RECENT_CHANGE
    areas = areas.annotate(
        recent=Case(
            When(effective_changed_at__gte=recent_since, then=Value(1)), default=Value(0), output_field=IntegerField()
        ),
    ).order_by("-recent", F("effective_changed_at").desc(nulls_last=True), "-effective", "country", "region")
    per_country, per_region = tallies_by_place()
    rows = [
        {
            "area": area,
            "tally": tally_for(area, per_country, per_region),
            "level_name": level_name(area.effective),
            "recent": bool(area.recent),
        }
        for area in areas
    ]
    # A country's numbers include its regions': count a region only when its country is not listed.
    listed_countries = {str(row["area"].country) for row in rows if not row["area"].region}
    totals = {"citizens": 0, "people": 0}
    for row in rows:
        if not row["area"].region or str(row["area"].country) not in listed_countries:
            totals["citizens"] += row["tally"].citizens
            totals["people"] += row["tally"].people
    return render(
        request,
        "alerts/console/situation.html",
        {"form": form, "rows": rows, "totals": totals, "status_keys": STATUS_KEYS},
    )
