"""Read-mostly admin pages for staff to look citizens up."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.http import HttpRequest, HttpResponse

from registrations.erasure import erase_citizen, erased_repr
from registrations.models import Citizen, HouseholdMember, Presence


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class PresenceInline(ReadOnlyInline):
    model = Presence
    fields = ("country", "region", "city", "arrival_date", "departure_date", "lives_here", "ended_at")


class HouseholdInline(ReadOnlyInline):
    model = HouseholdMember
    fields = ("full_name", "relationship", "age_group")


@admin.register(Citizen)
class CitizenAdmin(admin.ModelAdmin):
    """Look up, never invent: citizens register themselves. Deleting is allowed for data
    requests that come by other routes, and erases (``registrations.erasure``)."""

    list_display = ("full_name", "phone", "email", "phone_ok", "email_ok", "countries", "created_at")
    list_filter = ("preferred_language", "presences__country")
    # "=" makes the country an exact match: "AF" must not match every "AF" inside a name.
    search_fields = ("full_name", "phone", "email", "=presences__country", "=presences__region")
    inlines = (PresenceInline, HouseholdInline)
    readonly_fields = tuple(f.name for f in Citizen._meta.fields)
    list_per_page = 50
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.method in ("GET", "HEAD") and super().has_view_permission(request, obj)

    def get_queryset(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        return super().get_queryset(request).prefetch_related("presences")

    @admin.display(boolean=True, description="phone verified")
    def phone_ok(self, obj: Citizen) -> bool:
        return obj.phone_verified_at is not None

    @admin.display(boolean=True, description="email verified")
    def email_ok(self, obj: Citizen) -> bool:
        return obj.email_verified_at is not None

    @admin.display(description="countries")
    def countries(self, obj: Citizen) -> str:
        return ", ".join(sorted({p.country.code for p in obj.presences.all() if p.ended_at is None}))

    # Deleting a citizen is an erasure (registrations.erasure): whatever names or reaches
    # them goes, and their name is never written to the admin's log.

    def get_deleted_objects(self, objs, request: HttpRequest):  # type: ignore[no-untyped-def]
        """What the confirmation page lists. Permission to delete a citizen is enough:
        their check-ins, presences and household go with them whatever the staff member
        may do to those elsewhere (check-ins are read-only in the admin)."""
        deleted, counts, _perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected

    def log_deletions(self, request: HttpRequest, queryset) -> list[LogEntry]:  # type: ignore[no-untyped-def]
        """Who deleted which citizen and when, without the name Django would record."""
        content_type = ContentType.objects.get_for_model(Citizen, for_concrete_model=False)
        return LogEntry.objects.bulk_create(
            LogEntry(
                user_id=request.user.pk,
                content_type_id=content_type.pk,
                object_id=str(citizen.pk),
                object_repr=erased_repr(Citizen, citizen.pk),
                action_flag=DELETION,
                change_message="",
            )
            for citizen in queryset
        )

    def delete_model(self, request: HttpRequest, obj: Citizen) -> None:
        erase_citizen(obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:  # type: ignore[no-untyped-def]
        with transaction.atomic():  # all the selected citizens, or none
            for citizen in queryset:
                erase_citizen(citizen)

    def response_delete(self, request: HttpRequest, obj_display: str, obj_id: object) -> HttpResponse:
        # "The citizen "#12" was deleted": the name would travel in the message cookie.
        return super().response_delete(request, f"#{obj_id}", obj_id)
