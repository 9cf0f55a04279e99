"""The audit trail: ``record_audit`` is the one way to write it, ``shown_in_post_zone``
how the console shows what an entry holds."""

from __future__ import annotations

import datetime
import decimal
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import models
from django.utils import dateformat, timezone

from alerts.models import AuditEntry


def record_audit(user: Any, action: str, obj: models.Model | None, before: Any = None, after: Any = None) -> AuditEntry:
    """Record that ``user`` did ``action`` to ``obj``; returns the new entry.

    ``before`` and ``after`` are anything JSON can hold once dates, decimals and model
    instances are turned into strings or primary keys (``snapshot`` does that for a
    model's fields). Call it inside the transaction that makes the change, so the entry
    and the change commit or roll back together.
    """
    actor = user if (user is not None and getattr(user, "is_authenticated", False)) else None
    username = ""
    if user is not None:
        username = getattr(user, "get_username", lambda: "")() or ""
    object_type = object_id = object_repr = ""
    if obj is not None:
        object_type = obj._meta.label_lower
        object_id = str(obj.pk) if obj.pk is not None else ""
        object_repr = str(obj)[:200]
    return AuditEntry.objects.create(
        actor=actor,
        actor_username=username[:150],
        action=action[:64],
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr,
        before=_jsonable(before),
        after=_jsonable(after),
    )


def snapshot(obj: models.Model | None, fields: Iterable[str] | None = None) -> dict[str, Any] | None:
    """The values of ``obj``'s concrete fields (or just ``fields``), ready for JSON."""
    if obj is None:
        return None
    wanted = set(fields) if fields is not None else None
    data: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if wanted is not None and field.name not in wanted:
            continue
        data[field.name] = _jsonable(getattr(obj, field.attname))
    return data


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime.datetime) and timezone.is_aware(value):
        # Stored in UTC whatever zone the console had it in (a typed expiry is in the post's).
        return value.astimezone(datetime.UTC).isoformat()
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    return str(value)


#: How the audit page shows a time (its "When" column too), in the active zone.
SHOWN_FORMAT = "Y-m-d H:i:s"
# What ``_jsonable`` makes of an aware datetime: ISO 8601 with a UTC offset (older
# entries may carry another offset, or a "Z").
_STORED_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})")


def shown_in_post_zone(value: Any) -> Any:
    """``value`` (an entry's ``before`` or ``after``) as staff read it: every stored moment
    ("2021-08-15T13:30:00+00:00") becomes a time in the active zone, in the page's format
    ("2021-08-15 18:00:00" in Kabul); everything else, dates and times without an offset
    too, is returned as it is. The entry itself is not changed."""
    if isinstance(value, Mapping):
        return {k: shown_in_post_zone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shown_in_post_zone(v) for v in value]
    if isinstance(value, str) and _STORED_MOMENT.fullmatch(value):
        try:
            moment = datetime.datetime.fromisoformat(value)
        except ValueError:
            return value
        return dateformat.format(timezone.localtime(moment), SHOWN_FORMAT)
    return value
