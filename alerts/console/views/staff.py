"""Staff management for administrators: who holds which role, authenticator resets,
deactivating and reactivating accounts, and lifting sign-in lock-outs."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp.plugins.otp_totp.models import TOTPDevice

from alerts.console import otp
from alerts.console.audit import record_audit
from alerts.console.forms import StaffCreateForm
from alerts.console.permissions import (
    ROLES_REQUIRING_OTP,
    Capability,
    Role,
    assign_role,
    console_view,
    remove_role,
    roles_of,
)
from alerts.services import staff as staff_accounts

User = get_user_model()


@console_view(Capability.MANAGE_STAFF)
def staff_list(request: HttpRequest) -> HttpResponse:
    from django.contrib.auth.models import Group

    users = (
        User.objects.annotate(has_device=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)))
        .prefetch_related(Prefetch("groups", queryset=Group.objects.filter(name__in=[r.value for r in Role])))
        .order_by("username")
    )
    locked = staff_accounts.lock_outs()
    rows = [
        {
            "user": u,
            "roles": {g.name for g in u.groups.all()},
            "has_device": u.has_device,
            "me": u.pk == request.user.pk,
            "lock_outs": locked.get(u.get_username(), []),
        }
        for u in users
    ]
    context = {
        "rows": [row for row in rows if row["user"].is_active],
        "inactive_rows": [row for row in rows if not row["user"].is_active],
        "roles": list(Role),
    }
    return render(request, "alerts/console/staff.html", context)


@require_POST
@console_view(Capability.MANAGE_STAFF)
def staff_update(request: HttpRequest, user_id: int) -> HttpResponse:
    """Set a person's roles from the ticked boxes, or reset their authenticator."""
    person = get_object_or_404(User, pk=user_id, is_active=True)
    with transaction.atomic():
        if request.POST.get("action") == "issue_setup_code":
            code = otp.issue_setup_code(person)
            record_audit(request.user, "issue_otp_setup_code", person)  # never the code itself
            context = {"person": person, "code": code, "hours": settings.OTP_SETUP_CODE_HOURS}
            response = render(request, "alerts/console/setup_code_issued.html", context)
            response["Cache-Control"] = "no-store"
            return response
        if request.POST.get("action") == "reset_otp":
            removed, _details = TOTPDevice.objects.filter(user=person).delete()
            record_audit(request.user, "reset_otp", person, {"devices": removed}, {"devices": 0})
            messages.success(request, _("%(name)s must set up a new authenticator at next sign-in.") % {"name": person})
            return redirect("console:staff")
        before = sorted(r.value for r in roles_of(person))
        wanted = {r for r in Role if request.POST.get(f"role-{r.value}")}
        if person.pk == request.user.pk and Role.ADMINISTRATOR not in wanted:
            messages.error(request, _("You cannot remove your own administrator role; ask another administrator."))
            return redirect("console:staff")
        for role in Role:
            if role in wanted:
                assign_role(person, role)
            else:
                remove_role(person, role)
        after = sorted(r.value for r in wanted)
        if before != after:
            record_audit(request.user, "set_roles", person, {"roles": before}, {"roles": after})
    messages.success(request, _("Roles saved for %(name)s.") % {"name": person})
    return redirect("console:staff")


@require_POST
@console_view(Capability.MANAGE_STAFF)
def staff_deactivate(request: HttpRequest, user_id: int) -> HttpResponse:
    """Deactivate an account: every session of theirs ends now (never one's own account,
    never the last active administrator)."""
    person = get_object_or_404(User, pk=user_id)
    if not person.is_active:
        return redirect("console:staff")
    try:
        with transaction.atomic():
            ended = staff_accounts.deactivate_staff(request.user, person)
            record_audit(
                request.user,
                "deactivate_staff",
                person,
                {"is_active": True},
                {"is_active": False, "sessions_ended": ended},
            )
    except staff_accounts.StaffRuleBroken as refusal:
        messages.error(request, str(refusal))
        return redirect("console:staff")
    messages.success(request, _("%(name)s is deactivated and signed out everywhere.") % {"name": person})
    return redirect("console:staff")


@require_POST
@console_view(Capability.MANAGE_STAFF)
def staff_reactivate(request: HttpRequest, user_id: int) -> HttpResponse:
    person = get_object_or_404(User, pk=user_id)
    if person.is_active:
        return redirect("console:staff")
    with transaction.atomic():
        staff_accounts.reactivate_staff(person)
        record_audit(request.user, "reactivate_staff", person, {"is_active": False}, {"is_active": True})
    messages.success(request, _("%(name)s can sign in again.") % {"name": person})
    return redirect("console:staff")


@require_POST
@console_view(Capability.MANAGE_STAFF)
def staff_unlock(request: HttpRequest, user_id: int) -> HttpResponse:
    """Lift django-axes' lock-out of this person's user name, from every address."""
    person = get_object_or_404(User, pk=user_id)
    addresses = [lock.ip_address for lock in staff_accounts.lock_outs().get(person.get_username(), [])]
    with transaction.atomic():
        removed = staff_accounts.unlock_staff(person)
        record_audit(
            request.user, "unlock_staff", person, {"locked_out_from": addresses}, {"attempts_cleared": removed}
        )
    messages.success(request, _("%(name)s can sign in again from any address.") % {"name": person})
    return redirect("console:staff")


@console_view(Capability.MANAGE_STAFF)
def staff_create(request: HttpRequest) -> HttpResponse:
    """A new account with its roles. For a role that needs an authenticator, its set-up
    code is issued at once and shown (once), as "Issue set-up code" does."""
    form = StaffCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        roles = sorted(Role(value) for value in data["roles"])
        try:
            with transaction.atomic():
                person = User.objects.create_user(
                    username=data["username"],
                    email=data["email"],
                    password=data["password1"],
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                    is_staff=False,
                )
                for role in roles:
                    assign_role(person, role)
                after = {
                    "username": person.get_username(),
                    "name": person.get_full_name(),
                    "email": person.email,
                    "roles": [role.value for role in roles],
                }
                record_audit(request.user, "create_staff", person, None, after)
                code = None
                if set(roles) & ROLES_REQUIRING_OTP:
                    code = otp.issue_setup_code(person)
                    record_audit(request.user, "issue_otp_setup_code", person)  # never the code itself
        except IntegrityError:  # the same user name, created a moment ago by someone else
            form.add_error("username", _("There is already an account with this user name."))
        else:
            messages.success(request, _("Account %(name)s created.") % {"name": person})
            if code is None:
                return redirect("console:staff")
            context = {"person": person, "code": code, "hours": settings.OTP_SETUP_CODE_HOURS}
            response = render(request, "alerts/console/setup_code_issued.html", context)
            response["Cache-Control"] = "no-store"
            return response
    response = render(request, "alerts/console/staff_create.html", {"form": form})
    response["Cache-Control"] = "no-store"
    return response
