"""Alerts (message campaigns), their texts per language, and the templates per level."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Alert(models.Model):
    """One message campaign to an audience, on one or more channels.

    States::

        DRAFT --submit--> AWAITING_APPROVAL --approve--> SCHEDULED --fan-out--> SENDING --all final--> SENT
          ^                   |      |                       |                      |
          +----return---------+      |                       +---------abort--------+--> ABORTED
          |                          |
          +-----------cancel---------+--> CANCELLED

    Each arrow is one service function in ``alerts.services.alerts`` / ``fanout``
    (``submit_for_approval``, ``return_to_draft``, ``approve_alert``, ``cancel_alert``,
    ``start_fan_out``, ``abort_alert``, ``sweep_deliveries``); any other move raises
    ``AlertStateError``. Approval always passes through SCHEDULED: ``send_at`` in the
    future waits for the beat task ``start_due_alerts``, otherwise the fan-out is queued
    when the approving transaction commits. A SCHEDULED alert whose ``expires_at`` passes
    before its fan-out starts goes to ABORTED with nobody in ``aborted_by``
    (``fanout.end_expired_before_start``); a fan-out under way at the expiry creates no
    more deliveries, and the alert ends SENT once those created are final.

    A live alert is approved by a staff member other than its author; a test alert goes
    only to the staff test list and its texts start with "TEST:". ``references`` points at
    the alert an Update or Cancel (CAP msgType) corrects.
    """

    class State(models.TextChoices):
        DRAFT = "draft", _("Draft")  # being written
        AWAITING_APPROVAL = "awaiting_approval", _("Awaiting approval")  # submitted, not yet approved
        SCHEDULED = "scheduled", _("Approved, scheduled")  # approved; fan-out starts at send_at
        SENDING = "sending", _("Sending")  # fan-out started; deliveries not all final
        SENT = "sent", _("Sent")  # every delivery final
        CANCELLED = "cancelled", _("Cancelled")  # withdrawn before approval
        ABORTED = "aborted", _("Aborted")  # stopped after approval; unsent deliveries skipped

    class MsgType(models.TextChoices):  # CAP 1.2 msgType
        ALERT = "Alert", "Alert"
        UPDATE = "Update", "Update"
        CANCEL = "Cancel", "Cancel"

    class Category(models.TextChoices):  # CAP 1.2 category (subset staff use)
        SAFETY = "Safety", _("Safety")
        SECURITY = "Security", _("Security")
        HEALTH = "Health", _("Health")
        TRANSPORT = "Transport", _("Transport")
        GEO = "Geo", _("Geophysical")
        MET = "Met", _("Weather")
        OTHER = "Other", _("Other")

    class Urgency(models.TextChoices):
        IMMEDIATE = "Immediate", _("Immediate")
        EXPECTED = "Expected", _("Expected")
        FUTURE = "Future", _("Future")
        PAST = "Past", _("Past")
        UNKNOWN = "Unknown", _("Unknown")

    class Severity(models.TextChoices):
        EXTREME = "Extreme", _("Extreme")
        SEVERE = "Severe", _("Severe")
        MODERATE = "Moderate", _("Moderate")
        MINOR = "Minor", _("Minor")
        UNKNOWN = "Unknown", _("Unknown")

    class Certainty(models.TextChoices):
        OBSERVED = "Observed", _("Observed")
        LIKELY = "Likely", _("Likely")
        POSSIBLE = "Possible", _("Possible")
        UNLIKELY = "Unlikely", _("Unlikely")
        UNKNOWN = "Unknown", _("Unknown")

    class ResponseType(models.TextChoices):
        EVACUATE = "Evacuate", _("Evacuate")
        SHELTER = "Shelter", _("Shelter")
        PREPARE = "Prepare", _("Prepare")
        MONITOR = "Monitor", _("Monitor")
        AVOID = "Avoid", _("Avoid")
        ALL_CLEAR = "AllClear", _("All clear")
        NONE = "None", _("None")

    title = models.CharField(_("title"), max_length=200)
    state = models.CharField(max_length=20, choices=State.choices, default=State.DRAFT, db_index=True)
    is_test = models.BooleanField(_("test alert"), default=True)  # safe default: a test
    msg_type = models.CharField(max_length=8, choices=MsgType.choices, default=MsgType.ALERT)
    references = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="corrections")
    send_sms = models.BooleanField(_("send by SMS"), default=True)
    send_email = models.BooleanField(_("send by email"), default=True)
    # Audience: people present in these areas, and/or within radius_km of a point.
    areas = models.ManyToManyField("alerts.Area", blank=True, related_name="alerts")
    # Regions carved out of the country areas above: a presence recorded there is not part
    # of the area audience (e.g. a region whose own advisory level differs from the
    # country's). Each lies inside one of ``areas``; radius and correction audiences are
    # not affected.
    excluded_areas = models.ManyToManyField(
        "alerts.Area", blank=True, related_name="excluding_alerts", verbose_name=_("excluded areas")
    )
    center_latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    center_longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    radius_km = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    # The named place at the centre, and its region (ISO 3166-2): people there who gave no
    # coordinates are included as a fallback, counted apart so the console can show them.
    center_name = models.CharField(_("place"), max_length=120, blank=True)
    center_region = models.CharField(_("region of the place"), max_length=8, blank=True)
    # The advisory level this alert announces, when a level change drafted it.
    advisory_level = models.PositiveSmallIntegerField(null=True, blank=True)
    # A follow-up reaches only the audience who have not answered: no check-in at all, or
    # none since ``unanswered_since`` when it is set.
    only_unanswered = models.BooleanField(default=False)
    unanswered_since = models.DateTimeField(null=True, blank=True)
    # Explicit approver choice for urgent live alerts: also reach unverified contacts.
    include_unverified = models.BooleanField(default=False)
    fallback_language = models.CharField(max_length=8, default="en")
    category = models.CharField(max_length=12, choices=Category.choices, default=Category.SAFETY)
    urgency = models.CharField(max_length=12, choices=Urgency.choices, default=Urgency.IMMEDIATE)
    severity = models.CharField(max_length=12, choices=Severity.choices, default=Severity.SEVERE)
    certainty = models.CharField(max_length=12, choices=Certainty.choices, default=Certainty.LIKELY)
    response_type = models.CharField(max_length=12, choices=ResponseType.choices, default=ResponseType.PREPARE)
    expires_at = models.DateTimeField(null=True, blank=True)
    send_at = models.DateTimeField(null=True, blank=True)  # None: as soon as approved
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)  # fan-out began
    finished_at = models.DateTimeField(null=True, blank=True)  # all deliveries final
    aborted_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    aborted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Counts taken when the audience was last computed (citizens, people, addresses per channel).
    audience_summary = models.JSONField(default=dict, blank=True)
    # Fan-out bookkeeping: the phase it is in (``alerts.services.fanout.fan_out_phases``)
    # and the audience key read so far in it (keyset cursor), the lease the running
    # fan-out renews per chunk (a stale one is taken over by the sweep), and when every
    # delivery had been created (or the alert expired before they all were).
    fanout_phase = models.PositiveSmallIntegerField(default=0)
    fanout_cursor = models.BigIntegerField(default=0)
    fanout_heartbeat_at = models.DateTimeField(null=True, blank=True)
    fanout_done_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(msg_type="Alert") | Q(references__isnull=False),
                name="alert_update_or_cancel_references_original",
            ),
        ]

    def __str__(self) -> str:
        return f"{'[TEST] ' if self.is_test else ''}{self.title}"

    @property
    def channels(self) -> list[str]:
        """The delivery channels this alert uses ("sms", "email")."""
        return [name for name, on in (("sms", self.send_sms), ("email", self.send_email)) if on]


class AlertText(models.Model):
    """An alert's words in one language: the SMS text and the email subject and body."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="texts")
    language = models.CharField(max_length=8)
    sms_text = models.TextField(_("SMS text"), blank=True)
    email_subject = models.CharField(_("email subject"), max_length=200, blank=True)
    email_body = models.TextField(_("email body"), blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["alert", "language"], name="alerttext_unique_language")]

    def __str__(self) -> str:
        return f"{self.alert_id}/{self.language}"

    def clean(self) -> None:
        from alerts.services.rendering import placeholder_errors_by_field

        errors = placeholder_errors_by_field(self)
        if errors:
            raise ValidationError(errors)


class AlertTemplate(models.Model):
    """Staff-edited wording drafted into an alert when an Area reaches ``level``.

    Placeholders (``{name}``, ``{area}``, ``{level}``, ...) are checked when the
    template is saved, never while messages are rendered.
    """

    level = models.PositiveSmallIntegerField()
    language = models.CharField(max_length=8)
    sms_text = models.TextField(_("SMS text"))
    email_subject = models.CharField(_("email subject"), max_length=200)
    email_body = models.TextField(_("email body"))
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["level", "language"], name="template_unique_level_language")]
        ordering = ["level", "language"]

    def __str__(self) -> str:
        return f"level {self.level} / {self.language}"

    def clean(self) -> None:
        from alerts.services.rendering import placeholder_errors_by_field

        errors = placeholder_errors_by_field(self)
        if errors:
            raise ValidationError(errors)
