"""Read-mostly admin pages for staff to look citizens up."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

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
    requests that come by other routes."""

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

    def delete_model(self, request: HttpRequest, obj: Citizen) -> None:
        from registrations.services import delete_citizen

        delete_citizen(obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:  # type: ignore[no-untyped-def]
        from registrations.services import delete_citizen

        for citizen in queryset:
            delete_citizen(citizen)
