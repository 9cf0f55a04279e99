"""Messages outside the alert fan-out: the development outbox, inbound SMS, check-ins,
and the record of provider events already processed."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class OutboxMessage(models.Model):
    """A message the development outbox "sent": shown on /dev/outbox/ instead of leaving."""

    channel = models.CharField(max_length=8)  # sms or email
    to = models.CharField(max_length=254)
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField()
    html_body = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True)
    reference = models.CharField(max_length=120, blank=True)  # what sent it, e.g. delivery:42
    provider_message_id = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.channel} {self.provider_message_id}"


class InboundMessage(models.Model):
    """An SMS a person sent us, kept with what we made of it."""

    class Kind(models.TextChoices):
        OPT_OUT = "opt_out", _("Opt-out")  # STOP and its family
        OPT_IN = "opt_in", _("Opt-in")  # START, UNSTOP, YES
        HELP = "help", _("Help")  # HELP, INFO (carrier keywords)
        CHECK_IN = "check_in", _("Check-in")
        OTHER = "other", _("For staff")  # anything else, kept for staff to read

    provider_message_id = models.CharField(max_length=64, unique=True)
    from_number = models.CharField(max_length=32)
    to_number = models.CharField(max_length=32, blank=True)
    body = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    citizen = models.ForeignKey(
        "registrations.Citizen", null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_messages"
    )
    handled_at = models.DateTimeField(null=True, blank=True)  # staff marked it dealt with
    # When it came: the webhook's moment, or for one fetched later, when Twilio got it
    # (its date_sent; ``alerts.services.missed_inbound``).
    received_at = models.DateTimeField(default=timezone.now)
    # Set when the webhook never brought it and it was fetched from Twilio's message list.
    fetched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["kind", "received_at"])]

    def __str__(self) -> str:
        return f"inbound {self.kind} #{self.pk}"


class CheckIn(models.Model):
    """A citizen's answer about their status; the latest one counts on the board."""

    class Status(models.TextChoices):
        SAFE = "safe", _("I am safe")
        NEEDS_ASSISTANCE = "needs_assistance", _("I need assistance")
        DEPARTED = "departed", _("I have left")

    class Source(models.TextChoices):
        SMS = "sms", "SMS"
        LINK = "link", _("Link")
        STAFF = "staff", _("Staff")

    citizen = models.ForeignKey("registrations.Citizen", on_delete=models.CASCADE, related_name="check_ins")
    status = models.CharField(max_length=20, choices=Status.choices)
    source = models.CharField(max_length=8, choices=Source.choices)
    raw_text = models.TextField(blank=True)
    alert = models.ForeignKey(
        "alerts.Alert", null=True, blank=True, on_delete=models.SET_NULL, related_name="check_ins"
    )
    inbound_message = models.OneToOneField(
        InboundMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="check_in"
    )
    # When the citizen answered: now, or for an SMS fetched later, when Twilio got it.
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["citizen", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.status} #{self.pk}"


class WebhookEvent(models.Model):
    """A provider event already processed; its key makes a replay or duplicate a no-op."""

    provider = models.CharField(max_length=16)  # twilio-status, twilio-inbound, sendgrid
    event_id = models.CharField(max_length=128)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["provider", "event_id"], name="webhookevent_unique")]

    def __str__(self) -> str:
        return f"{self.provider}:{self.event_id}"


class InboundFetchCursor(models.Model):
    """How far the look for inbound SMS the webhook missed has come, for one number of
    ours (``alerts.services.missed_inbound``).

    Every message sent to ``number`` before ``fetched_through`` has been looked at (each
    run still looks again ``INBOUND_FETCH_OVERLAP_SECONDS`` before it). A run that
    reached its bound (``INBOUND_FETCH_MAX_PER_RUN``) took the newest messages of its
    window; it leaves ``resume_before`` (the oldest it took) and ``resume_through`` (its
    window's end): the next runs list what was sent before ``resume_before``, and only
    once none is left does ``fetched_through`` move on to ``resume_through``.
    """

    number = models.CharField(max_length=32, unique=True)  # ours (the messages' To), E.164
    fetched_through = models.DateTimeField(null=True, blank=True)
    resume_before = models.DateTimeField(null=True, blank=True)
    resume_through = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"inbound fetch cursor #{self.pk}"
