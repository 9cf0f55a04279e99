"""The advisory-level scale. Wording comes from ``settings.ADVISORY_LEVELS``."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext


def level_choices() -> list[tuple[int, str]]:
    """(number, words) in the active language, lowest level first."""
    return sorted((int(number), gettext(str(name))) for number, name in settings.ADVISORY_LEVELS.items())


def level_name(level: int | None) -> str:
    """The level's words in the active language (a reworded scale without a translation
    shows as configured)."""
    if level is None:
        return ""
    return gettext(str(settings.ADVISORY_LEVELS.get(level, level)))


def highest_level() -> int:
    return max(int(number) for number in settings.ADVISORY_LEVELS)
