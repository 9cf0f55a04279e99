"""Who may do what in the console. Every permission rule lives here and nowhere else.

Roles are Django groups (created by migration ``alerts.0002``; ``assign_role`` creates a
missing one):

- **author** composes alerts, changes advisory levels, prepares corrections;
- **approver** approves live alerts (never their own), aborts sending;
- **administrator** manages staff, templates and areas.

Approvers and administrators must have passed two-factor authentication (a TOTP code,
django-otp) in this session before any console page opens for them. The Django admin
asks it of every staff member, whatever their role (``can_use_admin``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import Group
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django_otp import user_has_device

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    from alerts.models import Alert

    AnyUser = AbstractBaseUser | AnonymousUser


class Role(enum.StrEnum):
    AUTHOR = "author"
    APPROVER = "approver"
    ADMINISTRATOR = "administrator"


class Capability(enum.StrEnum):
    VIEW = "view"  # situation, boards, history, progress, audit trail
    COMPOSE = "compose"  # draft, edit and submit alerts; prepare corrections and follow-ups
    CHANGE_LEVEL = "change_level"
    APPROVE = "approve"
    ABORT = "abort"
    EXPORT = "export"  # download lists of people (CSV)
    MANAGE_STAFF = "manage_staff"
    MANAGE_SETUP = "manage_setup"  # advisory templates and areas


# The one table of who may do what.
CAPABILITIES: dict[Capability, frozenset[Role]] = {
    Capability.VIEW: frozenset(Role),
    Capability.COMPOSE: frozenset({Role.AUTHOR}),
    Capability.CHANGE_LEVEL: frozenset({Role.AUTHOR}),
    Capability.APPROVE: frozenset({Role.APPROVER}),
    # Stopping a wrong alert must be quick: whoever may send one may stop one.
    Capability.ABORT: frozenset({Role.AUTHOR, Role.APPROVER}),
    Capability.EXPORT: frozenset(Role),
    Capability.MANAGE_STAFF: frozenset({Role.ADMINISTRATOR}),
    Capability.MANAGE_SETUP: frozenset({Role.ADMINISTRATOR}),
}

# Roles whose holders must pass a second factor before the console opens.
ROLES_REQUIRING_OTP = frozenset({Role.APPROVER, Role.ADMINISTRATOR})


def roles_of(user: AnyUser) -> frozenset[Role]:
    """The console roles ``user`` holds (none for anonymous or inactive users).

    Cached on the user object for the request.
    """
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    cached = getattr(user, "_console_roles", None)
    if cached is None:
        names = set(user.groups.filter(name__in=[r.value for r in Role]).values_list("name", flat=True))
        cached = frozenset(Role(name) for name in names)
        user._console_roles = cached  # type: ignore[union-attr]
    return cached


def has_role(user: AnyUser, role: Role) -> bool:
    return role in roles_of(user)


def is_console_user(user: AnyUser) -> bool:
    return bool(roles_of(user))


def requires_otp(user: AnyUser) -> bool:
    """True when ``user`` must pass two-factor authentication to use the console."""
    return bool(roles_of(user) & ROLES_REQUIRING_OTP)


def is_otp_verified(user: AnyUser) -> bool:
    """True when this session passed a TOTP check (set by django-otp's middleware)."""
    is_verified = getattr(user, "is_verified", None)
    return bool(is_verified and is_verified())


def second_factor_satisfied(user: AnyUser) -> bool:
    return not requires_otp(user) or is_otp_verified(user)


def can_use_admin(user: AnyUser) -> bool:
    """True when ``user`` may open the Django admin now: an active staff member whose
    session passed a TOTP check. The admin shows citizens' contact details, so a
    password alone never opens it, for any role (``embassy.admin_site``)."""
    return bool(user.is_authenticated and user.is_active and user.is_staff and is_otp_verified(user))


def can(user: AnyUser, capability: Capability) -> bool:
    """True when ``user`` may use ``capability`` now (role held, second factor passed)."""
    if not second_factor_satisfied(user):
        return False
    return bool(roles_of(user) & CAPABILITIES[capability])


def can_approve(user: AnyUser, alert: Alert) -> bool:
    """An approver who passed two-factor authentication, and never for their own live alert.

    A test alert (sent only to the staff test list) may be approved by its author.
    """
    if not can(user, Capability.APPROVE):
        return False
    return alert.is_test or alert.created_by_id != user.pk


def approve_refusal_reason(user: AnyUser, alert: Alert) -> str:
    """Why ``user`` may not approve ``alert`` ("" when they may), in words for the page."""
    from django.utils.translation import gettext as _

    if not has_role(user, Role.APPROVER):
        return _("Only an approver can approve an alert.")
    if not is_otp_verified(user):
        return _("Approving needs two-factor authentication in this session.")
    if not alert.is_test and alert.created_by_id == user.pk:
        return _("You wrote this live alert; another approver must approve it.")
    return ""


def assign_role(user: AbstractBaseUser, role: Role) -> None:
    """Give ``user`` a role (idempotent; creates the group if it is missing)."""
    group, _created = Group.objects.get_or_create(name=role.value)
    user.groups.add(group)  # type: ignore[attr-defined]
    if hasattr(user, "_console_roles"):
        del user._console_roles


def remove_role(user: AbstractBaseUser, role: Role) -> None:
    user.groups.remove(*Group.objects.filter(name=role.value))  # type: ignore[attr-defined]
    if hasattr(user, "_console_roles"):
        del user._console_roles


def ensure_roles() -> None:
    """Create the role groups if they are missing (idempotent)."""
    for role in Role:
        Group.objects.get_or_create(name=role.value)


View = Callable[..., HttpResponse]


def console_view(capability: Capability = Capability.VIEW) -> Callable[[View], View]:
    """Guard a console view.

    Anonymous: to the login page. Signed in without a console role: 403. A role that
    needs two-factor authentication without it in this session: to the verification
    page (or enrolment when the user has no device yet). Missing capability: 403.
    """

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not is_console_user(user):
                raise PermissionDenied
            if not second_factor_satisfied(user):
                target = "console:otp-verify" if user_has_device(user) else "console:otp-enrol"
                response = redirect(target)
                response["Location"] += "?next=" + _quote(request.get_full_path())
                return response
            if not can(user, capability):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="/")
