"""Areas and their advisory levels: every change recorded, and an alert drafted."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from alerts.errors import LevelError
from alerts.models import Area, LevelChange


def effective_level(area: Area) -> int:
    """The level in force in ``area``: its own, or its country's while it inherits."""
    return area.effective_level


def change_advisory_level(area: Area | int, new_level: int | None, *, by: AbstractBaseUser, reason: str) -> LevelChange:
    """Set ``area``'s level (None: a region inherits its country's level again).

    Records who, when, old and new level and the reason (LevelChange), and drafts an
    alert from the new effective level's templates for everyone present in the area,
    waiting for approval (``LevelChange.drafted_alert``; None when no template exists).
    Raises LevelError for an unknown level, a missing reason, a country without a
    level, or a change that changes nothing; nothing is saved then.
    """
    from alerts.services.templates import draft_alert_for_level

    reason = (reason or "").strip()
    if not reason:
        raise LevelError(gettext("Say why the level changes: the reason is kept with the change."))
    if new_level is not None and new_level not in settings.ADVISORY_LEVELS:
        known = ", ".join(str(n) for n in sorted(settings.ADVISORY_LEVELS))
        raise LevelError(
            gettext("Unknown advisory level %(level)s; the levels are %(known)s.")
            % {"level": new_level, "known": known}
        )
    with transaction.atomic():
        area_pk = area.pk if isinstance(area, Area) else area
        locked = Area.objects.select_for_update().get(pk=area_pk)
        if new_level is None and locked.is_country:
            raise LevelError(gettext("A country always has a level; only a region can inherit."))
        old_level = locked.level
        if old_level == new_level:
            raise LevelError(gettext("%(area)s is already at this level; nothing to change.") % {"area": locked.name})
        old_effective = locked.effective_level
        locked.level = new_level
        locked.level_changed_at = timezone.now()
        locked.save(update_fields=["level", "level_changed_at"])
        change = LevelChange.objects.create(
            area=locked, old_level=old_level, new_level=new_level, reason=reason, changed_by=by
        )
        new_effective = locked.effective_level
        if new_effective != old_effective:
            draft_alert_for_level(locked, new_effective, by=by, level_change=change)
    if isinstance(area, Area):
        area.level, area.level_changed_at = locked.level, locked.level_changed_at
    return change


def regions_with_their_own_level(country: Area, level: int) -> list[Area]:
    """The regions of ``country`` whose own level differs from ``level``.

    A region that inherits (``level`` None) follows the country and is not among them.
    A country-wide alert announcing ``level`` leaves these out by default (its excluded
    areas), so they keep the advisory of their own level.
    """
    if not country.is_country:
        return []
    return list(
        Area.objects.filter(country=country.country, level__isnull=False)
        .exclude(region="")
        .exclude(level=level)
        .order_by("region")
    )


def excluded_area_problems(areas: Iterable[Area], excluded: Iterable[Area]) -> list[str]:
    """Why these excluded areas do not fit the alert's ``areas`` (empty when they do).

    An excluded area must be a region lying inside one of the alert's country areas;
    an area that is itself one of the alert's areas is unticked there instead.
    """
    chosen = list(areas)
    countries = {str(area.country) for area in chosen if area.is_country}
    chosen_pks = {area.pk for area in chosen}
    problems = []
    for area in excluded:
        if area.pk in chosen_pks:
            problems.append(
                gettext("%(area)s is one of the alert's areas: untick it there instead of excluding it.")
                % {"area": area.name}
            )
        elif area.is_country or str(area.country) not in countries:
            problems.append(
                gettext("%(area)s does not lie inside any of the alert's areas, so it cannot be excluded.")
                % {"area": area.name}
            )
    return problems
