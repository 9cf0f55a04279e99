"""Read-side queries for the console: who is where, and what they last answered.

Everything here aggregates in the database; a page makes a fixed number of queries
however many areas or people there are.

Counting rules (shared by the situation page and the accountability board):

- A citizen is *present* in an Area when they hold a current Presence (not ended, dates
  covering today) in that country, and for a region Area in that region.
- *People* are citizens plus their household members; a citizen with two current
  presences in one Area counts once.
- A citizen's *status* is their latest check-in (optionally only those made at or after
  ``since``); no check-in means *no answer*.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db.models import (
    Case,
    Count,
    DateTimeField,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from alerts.models import Area, CheckIn
from registrations.models import Citizen, HouseholdMember, Presence

NO_ANSWER = "no_answer"
STATUSES = (CheckIn.Status.SAFE, CheckIn.Status.NEEDS_ASSISTANCE, CheckIn.Status.DEPARTED)
STATUS_KEYS = (*[s.value for s in STATUSES], NO_ANSWER)


@dataclass
class Tally:
    """Citizens and people, in all and by latest status."""

    citizens: int = 0
    people: int = 0
    by_status: dict[str, tuple[int, int]] = field(default_factory=dict)  # status -> (citizens, people)

    def citizens_with(self, status: str) -> int:
        return self.by_status.get(status, (0, 0))[0]

    def people_with(self, status: str) -> int:
        return self.by_status.get(status, (0, 0))[1]

    @property
    def rows(self) -> list[tuple[str, int, int]]:
        return [(key, *self.by_status.get(key, (0, 0))) for key in STATUS_KEYS]


def latest_status(citizen_ref: str = "pk", since: datetime.datetime | None = None) -> Subquery:
    """Subquery: the status of the citizen's latest check-in (at or after ``since``)."""
    check_ins = CheckIn.objects.filter(citizen=OuterRef(citizen_ref))
    if since is not None:
        check_ins = check_ins.filter(created_at__gte=since)
    return Subquery(check_ins.order_by("-created_at", "-id").values("status")[:1])


def latest_check_in_at(citizen_ref: str = "pk", since: datetime.datetime | None = None) -> Subquery:
    check_ins = CheckIn.objects.filter(citizen=OuterRef(citizen_ref))
    if since is not None:
        check_ins = check_ins.filter(created_at__gte=since)
    return Subquery(check_ins.order_by("-created_at", "-id").values("created_at")[:1], output_field=DateTimeField())


def areas_with_levels() -> QuerySet[Area]:
    """Areas annotated with ``effective`` (level in force) and ``effective_changed_at``.

    A region without its own level inherits its country's level and change time.
    """
    country = Area.objects.filter(country=OuterRef("country"), region="")
    return Area.objects.annotate(
        country_level=Subquery(country.values("level")[:1], output_field=IntegerField()),
        country_changed_at=Subquery(country.values("level_changed_at")[:1], output_field=DateTimeField()),
    ).annotate(
        effective=Coalesce(F("level"), F("country_level"), Value(1)),
        effective_changed_at=Case(
            When(level__isnull=True, then=F("country_changed_at")),
            default=F("level_changed_at"),
            output_field=DateTimeField(),
        ),
    )


def _tally_aggregates(prefix: str) -> dict[str, Count]:
    citizen, household = f"{prefix}", f"{prefix}__household"
    aggregates: dict[str, Count] = {
        "citizens": Count(citizen, distinct=True),
        "household": Count(household, distinct=True),
    }
    for status in STATUSES:
        match = Q(latest=status.value)
        aggregates[f"c_{status.value}"] = Count(citizen, distinct=True, filter=match)
        aggregates[f"h_{status.value}"] = Count(household, distinct=True, filter=match)
    aggregates[f"c_{NO_ANSWER}"] = Count(citizen, distinct=True, filter=Q(latest__isnull=True))
    aggregates[f"h_{NO_ANSWER}"] = Count(household, distinct=True, filter=Q(latest__isnull=True))
    return aggregates


def _tally_from_row(row: dict) -> Tally:
    by_status = {}
    for key in STATUS_KEYS:
        citizens = row[f"c_{key}"]
        by_status[key] = (citizens, citizens + row[f"h_{key}"])
    return Tally(citizens=row["citizens"], people=row["citizens"] + row["household"], by_status=by_status)


def tallies_by_place(since: datetime.datetime | None = None) -> tuple[dict[str, Tally], dict[tuple[str, str], Tally]]:
    """Two grouped queries: tallies per country, and per (country, region)."""
    present = Presence.objects.current().annotate(latest=latest_status("citizen", since)).order_by()
    aggregates = _tally_aggregates("citizen")
    per_country = {
        str(row["country"]): _tally_from_row(row) for row in present.values("country").annotate(**aggregates)
    }
    per_region = {
        (str(row["country"]), row["region"]): _tally_from_row(row)
        for row in present.exclude(region="").values("country", "region").annotate(**aggregates)
    }
    return per_country, per_region


def tally_for(area: Area, per_country: dict[str, Tally], per_region: dict[tuple[str, str], Tally]) -> Tally:
    if area.region:
        return per_region.get((str(area.country), area.region), Tally())
    return per_country.get(str(area.country), Tally())


def presences_in(area: Area) -> QuerySet[Presence]:
    presences = Presence.objects.current().filter(country=area.country)
    if area.region:
        presences = presences.filter(region=area.region)
    return presences


def citizens_in(area: Area, since: datetime.datetime | None = None) -> QuerySet[Citizen]:
    """Citizens present in ``area`` with ``status``, ``checked_in_at`` and ``household_size``."""
    present = presences_in(area).filter(citizen=OuterRef("pk"))
    household = (
        HouseholdMember.objects.filter(citizen=OuterRef("pk"))
        .order_by()
        .values("citizen")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        Citizen.objects.filter(Exists(present))
        .annotate(
            status=latest_status("pk", since),
            checked_in_at=latest_check_in_at("pk", since),
            household_size=Coalesce(Subquery(household, output_field=IntegerField()), Value(0)),
            city=Subquery(presences_in(area).filter(citizen=OuterRef("pk")).order_by("-pk").values("city")[:1]),
        )
        .order_by("full_name", "pk")
    )


def filter_by_status(citizens: QuerySet[Citizen], status: str) -> QuerySet[Citizen]:
    if status == NO_ANSWER:
        return citizens.filter(status__isnull=True)
    return citizens.filter(status=status)


def board_tally(area: Area, since: datetime.datetime | None = None) -> Tally:
    """One query: the accountability board's numbers for ``area``."""
    present = presences_in(area).annotate(latest=latest_status("citizen", since)).order_by()
    row = present.aggregate(**_tally_aggregates("citizen"))
    return _tally_from_row(row)
