"""Django admin for the alerts app: the staff test list and read-only records.

Alerts, deliveries and check-ins change only through the console and the pipeline's
services (which keep their rules and audit trail), so here they are read-only.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from alerts.models import Alert, AlertTemplate, Area, ChannelPause, CheckIn, Delivery, InboundMessage, LevelChange
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


@admin.register(ChannelPause)
class ChannelPauseAdmin(ReadOnlyAdmin):
    """Paused channels (runbook 4.1, 4.2), and trying their provider again by hand once
    the cause is fixed (``alerts.services.pauses.try_channel_again``)."""

    list_display = ("channel", "kind", "code", "reason", "since", "refused_at", "until", "refusals")
    readonly_fields = list_display
    actions = ("try_again_now",)

    def has_resume_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("alerts.change_channelpause")

    @admin.action(
        permissions=["resume"],
        description=_(
            "Resume now (try the provider again): the waiting messages are sent at the next sweep, "
            "within a minute; the first the provider accepts ends the pause, a refusal pauses it again"
        ),
    )
    def try_again_now(self, request: HttpRequest, queryset: QuerySet[ChannelPause]) -> None:
        from django.db import transaction

        from alerts.console.audit import record_audit, snapshot
        from alerts.services import pauses

        tried = resumed = 0
        for pause in queryset:
            now = timezone.now()
            with transaction.atomic():
                before = snapshot(pause, ["kind", "code", "until", "refusals"])
                moved = pauses.try_channel_again(pause.channel, now)
                if moved < 0:  # ended meanwhile: the provider accepted a message
                    continue
                if pause.kind == ChannelPause.Kind.RESTORED:
                    # Held after the database changed (restore_guard): the pause is gone.
                    record_audit(request.user, "resume_channel_after_database_change", pause, before, None)
                    resumed += 1
                    continue
                record_audit(request.user, "resume_channel_now", pause, before, {"until": now, "deliveries_due": moved})
            tried += 1
        if resumed:
            self.message_user(
                request,
                ngettext(
                    "Sending resumed on %(count)d channel held after the database changed: what waits goes out "
                    "at the next sweep (SMS looked up at Twilio first).",
                    "Sending resumed on %(count)d channels held after the database changed: what waits goes out "
                    "at the next sweep (SMS looked up at Twilio first).",
                    resumed,
                )
                % {"count": resumed},
                messages.SUCCESS,
            )
            if not tried:
                return
        self.message_user(
            request,
            ngettext(
                "%(count)d channel is tried again now; the pause ends once the provider accepts a message.",
                "%(count)d channels are tried again now; each pause ends once the provider accepts a message.",
                tried,
            )
            % {"count": tried},
            messages.SUCCESS,
        )
