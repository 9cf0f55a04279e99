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
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from alerts.models import Area, CheckIn
from alerts.services.audience import household_size
from registrations.models import Citizen, Presence

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


def _tallies(rows: list[dict], key_fields: tuple[str, ...]) -> dict:
    """Fold rows of (key..., latest, citizens, household) into one Tally per key.

    A citizen has one latest status, so the status groups add up to the whole.
    """
    tallies: dict = {}
    for row in rows:
        key = tuple(str(row[f]) if f == "country" else row[f] for f in key_fields)
        key = key[0] if len(key) == 1 else key
        tally = tallies.setdefault(key, Tally(by_status={k: (0, 0) for k in STATUS_KEYS}))
        status = row["latest"] or NO_ANSWER
        citizens, people = row["citizens"], row["citizens"] + row["household"]
        old_c, old_p = tally.by_status.get(status, (0, 0))
        tally.by_status[status] = (old_c + citizens, old_p + people)
        tally.citizens += citizens
        tally.people += people
    return tallies


def _grouped(presences: QuerySet[Presence], since: datetime.datetime | None, *fields: str) -> list[dict]:
    """One grouped query: distinct citizens and household members per place and latest status.

    Grouping by the status (rather than one filtered count per status) makes the
    database work out each citizen's latest check-in once per presence, not eight times.
    """
    return list(
        presences.annotate(latest=latest_status("citizen", since))
        .order_by()
        .values(*fields, "latest")
        .annotate(
            citizens=Count("citizen", distinct=True),
            household=Count("citizen__household", distinct=True),
        )
    )


def tallies_by_place(since: datetime.datetime | None = None) -> tuple[dict[str, Tally], dict[tuple[str, str], Tally]]:
    """Two grouped queries: tallies per country, and per (country, region)."""
    present = Presence.objects.current()
    per_country = _tallies(_grouped(present, since, "country"), ("country",))
    per_region = _tallies(_grouped(present.exclude(region=""), since, "country", "region"), ("country", "region"))
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
    return (
        Citizen.objects.filter(Exists(present))
        .annotate(
            status=latest_status("pk", since),
            checked_in_at=latest_check_in_at("pk", since),
            household_size=Coalesce(household_size(), Value(0)),
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
    rows = _grouped(presences_in(area), since)
    return _tallies(rows, ()).get((), Tally(by_status={k: (0, 0) for k in STATUS_KEYS}))
