"""Who an alert reaches, and how many: citizens, people and addresses per channel.

The audience of a live alert is every citizen with a current presence

- in one of the alert's Areas (a country area takes in all its regions; a region area
  takes the presences recorded with that region) and not in one of its excluded areas
  (regions carved out of a country area: a citizen present only there is left out; one
  also present elsewhere in the alert's areas is still in), or
- within ``radius_km`` of the alert's centre, for presences with coordinates; people in
  the centre's region (``center_region``) who gave no coordinates are included as a
  fallback and counted apart (``radius_fallback_citizens``), or
- for an Update or Cancel, who may have received the alert it ``references``
  (``may_have_received``: handed over, or its outcome unclear);

and, for a follow-up (``only_unanswered``), only those of them who have not checked in
(since ``unanswered_since`` when set).

From them, an address is used when it is set, not opted out (never, whatever the alert)
and verified, unless the approver chose ``include_unverified``. A test alert reaches
only the active staff test list. The same address appearing twice gets one delivery
(the unique key on the delivery does that; the counts here count distinct addresses).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, FloatField, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import ASin, Cast, Cos, Least, Power, Radians, Sin, Sqrt
from django.utils import timezone

from alerts.models import Alert, Area, CheckIn, Delivery, StaffTestRecipient
from registrations.models import Citizen, HouseholdMember, Presence

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class Recipient:
    """One row of the audience as the fan-out reads it.

    ``key`` orders the keyset (citizen id, or staff test recipient id); ``phone`` and
    ``email`` are "" when that address is not to be used.
    """

    key: int
    citizen_id: int | None
    name: str
    language: str
    phone: str
    email: str


def _place_q(area: Area) -> Q:
    return Q(country=area.country) if area.is_country else Q(country=area.country, region=area.region)


def _area_q(alert: Alert) -> Q | None:
    """Presences in the alert's areas and not in its excluded areas (None: no areas)."""
    q: Q | None = None
    for area in alert.areas.all():
        q = _place_q(area) if q is None else q | _place_q(area)
    if q is None or not alert.pk:
        return q
    for excluded in alert.excluded_areas.all():
        q &= ~_place_q(excluded)
    return q


def _distance_km(lat0: float, lon0: float) -> object:
    """Great-circle (haversine) distance from (lat0, lon0) to a presence's point, in SQL."""
    lat = Radians(Cast("latitude", FloatField()))
    lon = Radians(Cast("longitude", FloatField()))
    phi0, lambda0 = math.radians(lat0), math.radians(lon0)
    half_dlat = (lat - Value(phi0)) / Value(2.0)
    half_dlon = (lon - Value(lambda0)) / Value(2.0)
    a = Power(Sin(half_dlat), 2) + Value(math.cos(phi0)) * Cos(lat) * Power(Sin(half_dlon), 2)
    return Value(2.0 * EARTH_RADIUS_KM) * ASin(Sqrt(Least(Value(1.0), a)))


def _has_radius(alert: Alert) -> bool:
    return alert.center_latitude is not None and alert.center_longitude is not None and bool(alert.radius_km)


def _bounding_box(lat0: float, lon0: float, radius_km: float) -> Q:
    """A cheap prefilter around the circle (indexable); the exact distance follows."""
    dlat = math.degrees(radius_km / EARTH_RADIUS_KM)
    cos_lat = max(math.cos(math.radians(lat0)), 1e-6)
    dlon = min(180.0, math.degrees(radius_km / (EARTH_RADIUS_KM * cos_lat)))
    return Q(
        latitude__gte=Decimal(str(round(lat0 - dlat, 6))),
        latitude__lte=Decimal(str(round(lat0 + dlat, 6))),
        longitude__gte=Decimal(str(round(lon0 - dlon, 6))),
        longitude__lte=Decimal(str(round(lon0 + dlon, 6))),
    )


def presence_in_radius(alert: Alert) -> QuerySet[Presence]:
    """Current presences with coordinates within the alert's circle."""
    lat0, lon0, radius = float(alert.center_latitude), float(alert.center_longitude), float(alert.radius_km)
    return (
        Presence.objects.current()
        .filter(latitude__isnull=False)
        .filter(_bounding_box(lat0, lon0, radius))
        .annotate(distance_km=_distance_km(lat0, lon0))
        .filter(distance_km__lte=radius)
    )


def presence_in_fallback_region(alert: Alert) -> QuerySet[Presence]:
    """Current presences without coordinates in the region of the alert's named place."""
    if not alert.center_region:
        return Presence.objects.none()
    country = alert.center_region.split("-", 1)[0]
    return Presence.objects.current().filter(latitude__isnull=True, country=country, region=alert.center_region)


def audience_citizens(alert: Alert, *, after: int = 0) -> QuerySet[Citizen]:
    """Citizens the alert is about (before their addresses are looked at).

    With ``after``, only citizens whose key is greater (a fan-out's keyset page): the
    condition is put on every subquery too, so that PostgreSQL starts its walk through
    presences at the cursor, not at the first citizen (a merge join from the start made
    each page of a 1,000,000-citizen fan-out read every presence before the cursor).
    """
    conditions: Q | None = None

    def add(q: Q) -> None:
        nonlocal conditions
        conditions = q if conditions is None else conditions | q

    def theirs(rows: QuerySet[Any]) -> Exists:
        rows = rows.filter(citizen=OuterRef("pk"))
        return Exists(rows.filter(citizen_id__gt=after) if after else rows)

    area_q = _area_q(alert)
    if area_q is not None:
        add(theirs(Presence.objects.current().filter(area_q)))
    if _has_radius(alert):
        add(theirs(presence_in_radius(alert)))
        add(theirs(presence_in_fallback_region(alert)))
    if alert.references_id and alert.msg_type in (Alert.MsgType.UPDATE, Alert.MsgType.CANCEL):
        add(theirs(may_have_received(alert.references_id)))
    if conditions is None:
        return Citizen.objects.none()
    citizens = Citizen.objects.filter(conditions)
    if after:
        citizens = citizens.filter(pk__gt=after)
    if alert.only_unanswered:
        answers = CheckIn.objects.filter(citizen=OuterRef("pk"))
        if alert.unanswered_since is not None:
            answers = answers.filter(created_at__gte=alert.unanswered_since)
        citizens = citizens.exclude(Exists(answers))
    return citizens


#: What a delivery's error code says when the provider may have taken the message after
#: all: a timeout, a lost answer or connection, the sweep's "outcome unknown".
MAYBE_TAKEN_CODES = ("unknown", "timeout", "answer", "connection")


def may_have_received(alert_id: int) -> QuerySet[Delivery]:
    """The deliveries of alert ``alert_id`` whose message may have reached its person: an
    Update or Cancel must reach all of them. Handed over (SENT, DELIVERED), still being
    handed over (SENDING: an abort does not call back what a worker is sending), or ended
    or waiting with an unclear outcome (FAILED "outcome unknown", RETRY after a timeout).
    Left out: never sent (QUEUED, SKIPPED) and refused by the provider (FAILED with its
    reason, RETRY after a refusal)."""
    D = Delivery.State  # noqa: N806
    return Delivery.objects.filter(alert_id=alert_id).filter(
        Q(state__in=(D.SENT, D.DELIVERED, D.SENDING))
        | Q(state__in=(D.FAILED, D.RETRY), error_code__in=MAYBE_TAKEN_CODES)
    )


def _phone_ok(alert: Alert, include_unverified: bool) -> Q:
    q = ~Q(phone="") & Q(phone_opted_out_at__isnull=True)
    return q if include_unverified else q & Q(phone_verified_at__isnull=False)


def _email_ok(alert: Alert, include_unverified: bool) -> Q:
    q = ~Q(email="") & Q(email_opted_out_at__isnull=True)
    return q if include_unverified else q & Q(email_verified_at__isnull=False)


def _reachable_q(alert: Alert, include_unverified: bool, channels: Sequence[str] | None = None) -> Q:
    """A usable address on one of ``channels`` (the alert's own by default)."""
    channels = alert.channels if channels is None else channels
    q = Q(pk__in=[])
    if "sms" in channels:
        q |= _phone_ok(alert, include_unverified)
    if "email" in channels:
        q |= _email_ok(alert, include_unverified)
    return q


def reachable_citizens(alert: Alert, *, after: int = 0, channels: Sequence[str] | None = None) -> QuerySet[Citizen]:
    """Audience citizens with at least one usable address on ``channels`` (the alert's
    by default; a fan-out phase names its own), whose key is greater than ``after``
    (see ``audience_citizens``)."""
    include = alert.include_unverified
    return audience_citizens(alert, after=after).filter(_reachable_q(alert, include, channels))


#: What a fan-out reads of each citizen, in this order: the key, the language, and each
#: address with its verification and opt-out times.
PAGE = (
    "pk",
    "preferred_language",
    "phone",
    "phone_verified_at",
    "phone_opted_out_at",
    "email",
    "email_verified_at",
    "email_opted_out_at",
)


def audience_page(
    alert: Alert, *, after: int, size: int, columns: tuple[str, ...] = PAGE, channels: Sequence[str] | None = None
) -> QuerySet[Any]:
    """The next ``size`` citizens reachable on ``channels`` after key ``after`` (keyset
    order), as rows of ``columns``."""
    return reachable_citizens(alert, after=after, channels=channels).order_by("pk").values_list(*columns)[:size]


def _test_recipients() -> QuerySet[StaffTestRecipient]:
    return StaffTestRecipient.objects.filter(active=True)


def iter_audience(
    alert: Alert, *, after: int = 0, chunk_size: int = 1000, first_chunk_size: int | None = None
) -> Iterator[list[Recipient]]:
    """Yield the audience in chunks ordered by key, starting after ``after`` (keyset paging).

    Each chunk is read by one query (``key > last ORDER BY key LIMIT size``), so a
    fan-out can stop and resume from the last key it finished. With
    ``first_chunk_size`` the chunks start that small and double up to ``chunk_size``:
    the first messages leave early, the rest go in big chunks.
    """
    last = after
    largest = chunk_size
    next_size = min(first_chunk_size or largest, largest)
    while True:
        chunk_size, next_size = next_size, min(next_size * 2, largest)
        if alert.is_test:
            rows = list(
                _test_recipients()
                .filter(pk__gt=last)
                .order_by("pk")
                .values_list("pk", "name", "language", "phone", "email")[:chunk_size]
            )
            chunk = [
                Recipient(
                    key=pk,
                    citizen_id=None,
                    name=name,
                    language=language,
                    phone=phone if alert.send_sms else "",
                    email=email.lower() if alert.send_email else "",
                )
                for pk, name, language, phone, email in rows
            ]
        else:
            include = alert.include_unverified
            rows = list(audience_page(alert, after=last, size=chunk_size, columns=("pk", "full_name", *PAGE[1:])))
            chunk = []
            for pk, name, language, phone, p_ver, p_out, email, e_ver, e_out in rows:
                use_phone = alert.send_sms and phone and p_out is None and (p_ver is not None or include)
                use_email = alert.send_email and email and e_out is None and (e_ver is not None or include)
                chunk.append(
                    Recipient(
                        key=pk,
                        citizen_id=pk,
                        name=name,
                        language=language,
                        phone=phone if use_phone else "",
                        email=email.lower() if use_email else "",
                    )
                )
        if not chunk:
            return
        yield chunk
        if len(rows) < chunk_size:
            return
        last = chunk[-1].key


def household_size() -> Subquery:
    """The number of people registered with the outer citizen (``OuterRef("pk")``; NULL when none)."""
    members = (
        HouseholdMember.objects.filter(citizen=OuterRef("pk"))
        .order_by()
        .values("citizen")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Subquery(members, output_field=IntegerField())


def _audience_figures(alert: Alert) -> dict[str, int]:
    """Every count of a live alert's audience, read in one aggregate query over its citizens.

    Each figure is ``count(*) FILTER (WHERE ...)`` (or a sum) over the same rows, so the
    audience is scanned once. Verified addresses are unique by constraint
    (``citizen_unique_verified_phone`` / ``_email``) and each citizen is one row here, so
    verified addresses are counted without DISTINCT; only counts that take in unverified
    addresses need ``count(DISTINCT ...)``, which PostgreSQL sorts (spilling to disk
    gracefully when work_mem is small) rather than hashing. Household members are summed
    from a correlated count per reached citizen (one index probe each).
    """
    include = alert.include_unverified
    channels = [
        (channel, field, ok)
        for channel, field, ok, on in (
            ("sms", "phone", _phone_ok, alert.send_sms),
            ("email", "email", _email_ok, alert.send_email),
        )
        if on
    ]
    figures: dict[str, object] = {"everyone": Count("pk")}
    if channels:
        reached = _reachable_q(alert, include)
        figures.update(
            citizens=Count("pk", filter=reached),
            members=Sum(household_size(), filter=reached),
            reachable_verified=Count("pk", filter=_reachable_q(alert, False)),
            reachable_any=Count("pk", filter=_reachable_q(alert, True)),
        )
        for channel, field, ok in channels:
            figures[f"{channel}_verified"] = Count("pk", filter=ok(alert, False))
            figures[f"{channel}_any"] = Count(field, filter=ok(alert, True), distinct=True)
        if _has_radius(alert) and alert.center_region:
            in_radius = Exists(presence_in_radius(alert).filter(citizen=OuterRef("pk")))
            in_region = Exists(presence_in_fallback_region(alert).filter(citizen=OuterRef("pk")))
            figures["fallback"] = Count("pk", filter=reached & Q(in_region) & ~Q(in_radius))
    row = audience_citizens(alert).aggregate(**figures)
    return {name: int(value or 0) for name, value in row.items()}


def compute_audience(alert: Alert, *, save: bool = True) -> dict[str, object]:
    """Count the alert's audience; store it in ``alert.audience_summary`` when ``save``.

    Returns ``{"citizens", "people", "addresses": {"sms", "email"}, "unreachable_citizens",
    "radius_fallback_citizens", "unverified": {"citizens", "addresses"}, "test",
    "include_unverified", "computed_at"}``. ``people`` is citizens plus their household
    members; ``addresses`` are distinct per channel, as deliveries will be;
    ``unverified`` says what ``include_unverified`` would add (or has added).

    Queries: the alert's areas, one aggregate over the audience (``_audience_figures``)
    and, when ``save``, one UPDATE.
    """
    summary: dict[str, object] = {
        "test": alert.is_test,
        "include_unverified": alert.include_unverified,
        "computed_at": timezone.now().isoformat(),
    }
    if alert.is_test:
        row = _test_recipients().aggregate(
            people=Count("pk"),
            sms=Count("phone", filter=~Q(phone=""), distinct=True),
            email=Count("email", filter=~Q(email=""), distinct=True),
        )
        summary.update(
            citizens=0,
            people=row["people"],
            addresses={
                "sms": row["sms"] if alert.send_sms else 0,
                "email": row["email"] if alert.send_email else 0,
            },
            unreachable_citizens=0,
            radius_fallback_citizens=0,
            unverified={"citizens": 0, "addresses": {"sms": 0, "email": 0}},
        )
    else:
        f = _audience_figures(alert)
        include = alert.include_unverified
        verified = {ch: f.get(f"{ch}_verified", 0) for ch in ("sms", "email")}
        every = {ch: f.get(f"{ch}_any", 0) for ch in ("sms", "email")}
        citizens = f.get("citizens", 0)
        summary.update(
            citizens=citizens,
            people=citizens + f.get("members", 0),
            addresses=every if include else verified,
            unreachable_citizens=f["everyone"] - citizens,
            radius_fallback_citizens=f.get("fallback", 0),
            unverified={
                "citizens": f.get("reachable_any", 0) - f.get("reachable_verified", 0),
                "addresses": {ch: every[ch] - verified[ch] for ch in ("sms", "email")},
            },
        )
    if save and alert.pk:
        alert.audience_summary = summary
        Alert.objects.filter(pk=alert.pk).update(audience_summary=summary, updated_at=timezone.now())
    return summary
