"""Strict reading of settings from the environment.

A setting that is present but malformed (``DEBUG=maybe``, ``SMS_RATE=fast``) stops the
process at start with ``ImproperlyConfigured`` naming the variable, instead of surfacing
later as a surprise. Secrets may also come from files (``NAME_FILE``), as container
platforms mount them.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import environ
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    """Return the boolean in ``name``; raise ImproperlyConfigured for anything unclear."""
    raw = env.str(name, default=None)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false/1/0), not {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    """Return the integer in ``name``; raise ImproperlyConfigured if it is not one."""
    raw = env.str(name, default=None)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    """Return the number in ``name``; raise ImproperlyConfigured if it is not one."""
    raw = env.str(name, default=None)
    if raw is None:
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def env_secret(name: str, default: str | None = None) -> str | None:
    """Return a secret from ``name`` or from the file named by ``name_FILE``.

    Setting both is an error: it is never clear which one the operator meant.
    """
    direct = env.str(name, default=None)
    file_name = env.str(f"{name}_FILE", default=None)
    if direct is not None and file_name is not None:
        raise ImproperlyConfigured(f"Set {name} or {name}_FILE, not both")
    if file_name is not None:
        path = Path(file_name)
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {file_name}: {exc}") from None
    return direct if direct is not None else default


def env_secret_list(name: str) -> list[str]:
    """Return secrets from ``name`` or from the file ``name_FILE`` names, separated by
    commas or new lines (one per line suits a file), blanks dropped; ``[]`` when unset."""
    raw = env_secret(name)
    if raw is None:
        return []
    return [item.strip() for item in raw.replace("\n", ",").split(",") if item.strip()]


def env_list(name: str, default: list[str]) -> list[str]:
    """Return a comma-separated list, blanks dropped."""
    raw = env.str(name, default=None)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """Return ``name`` if it is one of ``choices``; raise ImproperlyConfigured otherwise."""
    value = env.str(name, default=default).strip()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def env_time_zone(name: str, default: str) -> str:
    """Return the IANA time zone name in ``name`` (``Asia/Kabul``, ``UTC``).

    An unknown or malformed name raises ImproperlyConfigured: a zone that is not what
    the operator meant would shift every time staff read and type.
    """
    value = env.str(name, default=default).strip()
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ImproperlyConfigured(
            f"{name} must be a time zone name such as Asia/Kabul or UTC, not {value!r} "
            "(names are case-sensitive; a machine without a time zone database needs the tzdata package)"
        ) from None
    return value


def env_cap_name(name: str, default: str) -> str:
    """Return a CAP 1.2 sender (or identifier part) from ``name``.

    CAP forbids spaces, commas and the characters ``<`` and ``&`` in ``sender`` and
    ``identifier``; an empty or offending value raises ImproperlyConfigured.
    """
    value = env.str(name, default=default).strip()
    if not value or any(ch.isspace() or ch in ",<&" for ch in value):
        raise ImproperlyConfigured(
            f"{name} must be a CAP sender such as alerts@embassy.example (no spaces, commas, < or &), not {value!r}"
        )
    return value


def env_db(name: str, default: str) -> dict:
    """Parse a database URL; a malformed one is an error at start."""
    raw = env.str(name, default=default)
    try:
        return environ.Env.db_url_config(raw)
    except Exception as exc:  # django-environ raises several types for bad URLs
        raise ImproperlyConfigured(f"{name} is not a valid database URL: {exc}") from None


_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def env_rate(name: str, default: str) -> tuple[int, int]:
    """Parse a rate such as ``20/h`` into (count, period in seconds)."""
    raw = env.str(name, default=default).strip()
    count, _, period = raw.partition("/")
    try:
        number = int(count)
        seconds = _PERIODS[period]
    except (ValueError, KeyError):
        raise ImproperlyConfigured(f"{name} must look like 20/h (count per s, m, h or d), not {raw!r}") from None
    if number < 1:
        raise ImproperlyConfigured(f"{name} must allow at least one request, not {raw!r}")
    return number, seconds


def env_json(name: str, default: dict) -> dict:
    """Parse a JSON object from ``name``."""
    import json

    raw = env.str(name, default=None)
    if raw is None:
        return dict(default)
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a JSON object: {exc}") from None
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f"{name} must be a JSON object, not {type(value).__name__}")
    return value


def env_http_url(name: str) -> str:
    """Return the ``http://`` or ``https://`` URL in ``name`` (or the file ``name_FILE``
    names: such a URL often carries a token), ``""`` when unset or blank.

    A malformed one raises ImproperlyConfigured without repeating it (the token stays
    out of the error, which a supervisor may log).
    """
    from urllib.parse import urlsplit

    raw = (env_secret(name) or "").strip()
    if not raw:
        return ""
    try:
        parts = urlsplit(raw)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        host = None
    if parts.scheme not in ("http", "https") or not host or any(ch.isspace() for ch in raw):
        raise ImproperlyConfigured(
            f"{name} must be an http:// or https:// URL with a host, such as https://hooks.example.org/T0/B0/xyz "
            "(the value given is not repeated here: it may hold a token)"
        )
    return raw


def env_email_list(name: str) -> list[str]:
    """Return the comma-separated email addresses in ``name`` (``[]`` when unset).

    A malformed one raises ImproperlyConfigured naming its place in the list, never the
    address (contacts stay out of logs)."""
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    addresses = env_list(name, [])
    for number, address in enumerate(addresses, start=1):
        try:
            validate_email(address)
        except ValidationError:
            raise ImproperlyConfigured(
                f"{name}: entry {number} of {len(addresses)} is not an email address (comma-separated addresses, "
                "such as duty@embassy.example,consul@embassy.example)"
            ) from None
    return addresses


def env_phone_list(name: str) -> list[str]:
    """Return the comma-separated phone numbers in ``name`` in E.164 (``[]`` when unset).

    Each must start with + and its country code (spaces and dashes allowed:
    ``+93 70 123 4567`` becomes ``+93701234567``). A malformed one raises
    ImproperlyConfigured naming its place in the list, never the number."""
    import phonenumbers

    numbers = []
    raw_numbers = env_list(name, [])
    for number, raw in enumerate(raw_numbers, start=1):
        try:
            parsed = phonenumbers.parse(raw, None) if raw.startswith("+") else None
        except phonenumbers.NumberParseException:
            parsed = None
        if parsed is None or not phonenumbers.is_valid_number(parsed):
            raise ImproperlyConfigured(
                f"{name}: entry {number} of {len(raw_numbers)} is not a phone number in international form "
                "(+ then the country code and number, such as +93701234567; comma-separated)"
            )
        numbers.append(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
    return numbers
