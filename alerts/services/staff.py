"""Staff accounts as administrators manage them from the console: deactivating and
reactivating an account, and the sign-in lock-outs (django-axes) they can lift.

Each function changes what it says and nothing else; the caller records the audit entry
in the same transaction (``alerts.console.audit.record_audit``).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.db import transaction
from django.db.models import Max, Sum
from django.utils import timezone

from alerts.console.permissions import Role


class StaffRuleBroken(Exception):
    """An administrator asked for something the staff rules forbid (the message says what)."""


def active_administrators() -> Any:
    """The active accounts holding the administrator role (a queryset of users)."""
    return get_user_model().objects.filter(is_active=True, groups__name=Role.ADMINISTRATOR.value)


def deactivate_staff(actor: Any, person: Any) -> int:
    """Set ``person.is_active`` to False and end every session of theirs; returns how
    many sessions ended.

    Raises ``StaffRuleBroken`` when ``person`` is ``actor`` or the last active
    administrator, or ``actor`` is no longer an active administrator. The active
    administrators' rows are locked first, so two administrators deactivating each other
    at the same moment cannot leave none. Call inside a transaction.
    """
    from django.utils.translation import gettext as _

    if person.pk == actor.pk:
        raise StaffRuleBroken(_("You cannot deactivate your own account; ask another administrator."))
    admins = set(active_administrators().select_for_update(of=("self",)).values_list("pk", flat=True))
    if actor.pk not in admins:
        raise StaffRuleBroken(_("Only an active administrator can deactivate an account."))
    if person.pk in admins and not (admins - {person.pk}):
        raise StaffRuleBroken(_("%(name)s is the last active administrator.") % {"name": person})
    type(person).objects.filter(pk=person.pk).update(is_active=False)
    person.is_active = False
    return end_sessions(person)


def reactivate_staff(person: Any) -> None:
    """Set ``person.is_active`` to True: they sign in again (no old session comes back:
    deactivating ended them)."""
    type(person).objects.filter(pk=person.pk).update(is_active=True)
    person.is_active = True


def end_sessions(person: Any) -> int:
    """Delete every stored session signed in as ``person``; returns how many.

    Django already treats a session of an inactive account as signed out
    (``ModelBackend.get_user`` refuses it); deleting the sessions also keeps them from
    coming back, second factor and all, if the account is reactivated. Only database
    sessions can be searched; with another engine this returns 0 and ``is_active`` alone
    refuses them.
    """
    engine = import_module(settings.SESSION_ENGINE)
    get_model = getattr(engine.SessionStore, "get_model_class", None)
    if get_model is None:
        return 0
    model = get_model()
    wanted = str(person.pk)
    keys = [
        session.session_key
        for session in model.objects.filter(expire_date__gt=timezone.now()).iterator()
        if str(session.get_decoded().get(SESSION_KEY)) == wanted
    ]
    deleted, _ = model.objects.filter(session_key__in=keys).delete()
    return deleted


@dataclass(frozen=True)
class LockOut:
    """One user name locked out from one client address now."""

    username: str
    ip_address: str | None
    failures: int
    last_failure: datetime.datetime
    until: datetime.datetime | None  # None: no cool-off, locked until unlocked


def lock_outs(now: datetime.datetime | None = None) -> dict[str, list[LockOut]]:
    """The user names django-axes locks out now, each with its addresses.

    As axes counts them (``AXES_LOCKOUT_PARAMETERS``: user name and address together):
    the failures of one user name from one address (summed over browsers), counted in
    attempts within the cool-off, at or over ``AXES_FAILURE_LIMIT``.
    """
    from axes.helpers import get_cool_off, get_failure_limit
    from axes.models import AccessAttempt

    now = now or timezone.now()
    limit = get_failure_limit(None, None)  # type: ignore[arg-type]
    cool_off = get_cool_off(None)
    attempts = AccessAttempt.objects.exclude(username=None)
    if cool_off is not None:
        attempts = attempts.filter(attempt_time__gte=now - cool_off)
    rows = (
        attempts.values("username", "ip_address")
        .annotate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
        .filter(failures__gte=limit)
        .order_by("username", "ip_address")
    )
    found: dict[str, list[LockOut]] = {}
    for row in rows:
        until = row["last"] + cool_off if cool_off is not None else None
        found.setdefault(row["username"], []).append(
            LockOut(row["username"], row["ip_address"], row["failures"], row["last"], until)
        )
    return found


def unlock_staff(person: Any) -> int:
    """Clear ``person``'s failed sign-ins from every address (django-axes' own reset);
    returns how many attempt rows were removed."""
    from axes.utils import reset

    with transaction.atomic():
        return reset(username=person.get_username())
