"""The advisory-level scale. Wording comes from ``settings.ADVISORY_LEVELS``."""

from __future__ import annotations

from django.conf import settings


def level_choices() -> list[tuple[int, str]]:
    return sorted((int(number), str(name)) for number, name in settings.ADVISORY_LEVELS.items())


def level_name(level: int | None) -> str:
    if level is None:
        return ""
    return str(settings.ADVISORY_LEVELS.get(level, level))


def highest_level() -> int:
    return max(int(number) for number in settings.ADVISORY_LEVELS)
