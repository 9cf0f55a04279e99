"""Django admin for the alerts app: the staff test list and read-only records.

Alerts, deliveries and check-ins change only through the console and the pipeline's
services (which keep their rules and audit trail), so here they are read-only.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from alerts.models import Alert, AlertTemplate, Area, CheckIn, Delivery, InboundMessage, LevelChange
from alerts.models.recipients import StaffTestRecipient


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(StaffTestRecipient)
class StaffTestRecipientAdmin(admin.ModelAdmin):
    """Where test alerts go: staff phones and emails, never citizens."""

    list_display = ("name", "phone", "email", "language", "active")
    list_filter = ("active",)
    search_fields = ("name", "phone", "email")


@admin.register(Area)
class AreaAdmin(ReadOnlyAdmin):
    list_display = ("name", "country", "region", "level", "level_changed_at")
    search_fields = ("name", "=country", "=region")


@admin.register(LevelChange)
class LevelChangeAdmin(ReadOnlyAdmin):
    list_display = ("area", "old_level", "new_level", "changed_by", "changed_at")
    list_filter = ("new_level",)


@admin.register(AlertTemplate)
class AlertTemplateAdmin(ReadOnlyAdmin):
    list_display = ("level", "language", "email_subject", "updated_by", "updated_at")


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ("title", "is_test", "state", "created_by", "approved_by", "created_at")
    list_filter = ("is_test", "state", "msg_type")
    search_fields = ("title",)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ("alert", "channel", "state", "attempts", "error_code", "updated_at")
    list_filter = ("channel", "state")
    show_full_result_count = False  # counting millions of rows on every page is slow


@admin.register(CheckIn)
class CheckInAdmin(ReadOnlyAdmin):
    list_display = ("citizen", "status", "source", "created_at")
    list_filter = ("status", "source")


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdmin):
    list_display = ("kind", "citizen", "received_at", "handled_at")
    list_filter = ("kind",)
