"""Countries and their regions (ISO 3166-1 and ISO 3166-2, from pycountry)."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import pycountry


def _sort_key(name: str) -> str:
    """``name`` without its accents, case-folded: Kābul sorts with Kabul, before Kunduz
    (by code point, ā comes after every unaccented letter)."""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@lru_cache(maxsize=512)
def regions_of(country_code: str) -> tuple[tuple[str, str], ...]:
    """(code, name) of the top-level subdivisions of a country, sorted by name as a reader
    would, ignoring accents and case.

    Returns an empty tuple for a country with no subdivisions or an unknown code.
    """
    if not country_code:
        return ()
    subdivisions = pycountry.subdivisions.get(country_code=country_code.upper()) or []
    # Keep the top level only (provinces, states); their children would double-count.
    top = [s for s in subdivisions if not getattr(s, "parent_code", None)]
    return tuple(sorted(((s.code, s.name) for s in top), key=lambda pair: (_sort_key(pair[1]), pair[1])))


def region_name(code: str) -> str:
    """The English name of an ISO 3166-2 code, or the code itself if unknown."""
    if not code:
        return ""
    subdivision = pycountry.subdivisions.get(code=code)
    return subdivision.name if subdivision else code


def is_region_of(code: str, country_code: str) -> bool:
    return any(region == code for region, _ in regions_of(country_code))
