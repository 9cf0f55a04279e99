"""Deliveries: one message to one address on one channel for one alert."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Delivery(models.Model):
    """The unit that is sent, retried and tracked.

    States::

        QUEUED --claim--> SENDING --provider accepted--> SENT --callback--> DELIVERED
           ^                 |                             |
           |                 +--transient--> RETRY --------+ (claimed again once next_attempt_at is due)
           |                 +--permanent / attempts used up--> FAILED
           |                 +--left SENDING by a dead worker (sweep): SMS looked up --> SENT or RETRY
           |                 +--  ... email, or SMS the provider cannot be asked about --> FAILED "outcome unknown"
        QUEUED / RETRY --opted out, aborted--> SKIPPED
        SENT --callback undelivered/failed--> FAILED

    ``(alert, channel, address)`` is unique: one message per address per alert. A send
    is claimed by moving QUEUED/RETRY to SENDING in the database (rows locked with
    ``FOR UPDATE SKIP LOCKED``, the alert checked to be SENDING in the same statement)
    before the provider is called, so a task that runs twice finds nothing left to claim,
    and an aborted alert has nothing more claimed.

    **Exactly once when an outcome is lost.** A delivery still SENDING after
    ``DELIVERY_SENDING_STALE_SECONDS`` belongs to a worker that died between the claim and
    writing the provider's answer; an attempt that ended in a timeout, an unreadable
    answer or a dropped connection is just as unclear. Such a message is **never sent
    blindly again**:

    - SMS is *reconciled*: Twilio is asked for the messages to that number since the
      delivery was created (``TwilioSMSChannel.messages_to``, ``GET Messages.json?To=``)
      and one whose body matches the rendered text (links aside: they carry a signing
      time) means it was sent: SENT with that SID. Only when Twilio does not have it is
      it sent again. The stale SENDING case is settled by the sweep; the ambiguous
      attempt stays RETRY with its error code and the next claim looks it up first.
    - Email cannot be looked up (SendGrid has no per-message query here), so it ends
      FAILED with ``error_code="unknown"``, reason "outcome unknown" (a missed email is
      visible to staff; a second one cannot be taken back). An SMS whose provider
      cannot be asked for ``3 x`` the stale time ends the same way.

    If the provider did take a message ended "outcome unknown", its status callback
    (``?ref=delivery:<id>``) or the late answer of a slow worker still moves the row on
    to SENT/DELIVERED.

    ``enqueued_at`` is when a send task was last queued for the row; the sweep queues
    again only rows whose task is older than ``DELIVERY_REQUEUE_AFTER_SECONDS`` (a task
    lost with a killed worker), never by Celery countdowns.
    """

    class Channel(models.TextChoices):
        SMS = "sms", _("SMS")
        EMAIL = "email", _("Email")

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")  # created, waiting for a send task
        SENDING = "sending", _("Sending")  # claimed by a worker; provider call under way
        RETRY = "retry", _("Retrying")  # transient failure; due again at next_attempt_at
        SENT = "sent", _("Sent")  # accepted by the provider (final unless a callback follows)
        DELIVERED = "delivered", _("Delivered")  # the provider confirmed delivery (final)
        FAILED = "failed", _("Failed")  # permanent failure, reason kept (final)
        SKIPPED = "skipped", _("Skipped")  # never sent: opted out, aborted (final)

    FINAL_STATES = (State.SENT, State.DELIVERED, State.FAILED, State.SKIPPED)
    OPEN_STATES = (State.QUEUED, State.SENDING, State.RETRY)

    # No index of its own: the unique key (alert, channel, address) and the progress index
    # begin with the alert. Every index is written for every delivery created and claimed.
    alert = models.ForeignKey("alerts.Alert", on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    address = models.CharField(_("address"), max_length=254)  # E.164 number or lower-case email
    citizen = models.ForeignKey(
        "registrations.Citizen", null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    language = models.CharField(_("language"), max_length=8, default="en")
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=64, blank=True)
    error_code = models.CharField(_("error code"), max_length=16, blank=True)
    error_reason = models.CharField(_("reason"), max_length=300, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "channel", "address"], name="delivery_unique_alert_channel_address"
            )
        ]
        # Every index is written on every change of state that is not a HOT update,
        # and a claim or a write-back is never one (the state is indexed). So: no index
        # beginning with the state. Its entries for SENDING would pile up dead during an
        # alert, and a write-back (``WHERE id = ANY(...) AND state = 'sending'``) that
        # the planner sent through it read them all: O(messages sent so far) per round.
        # Whatever looks for open deliveries (the sweep) asks per alert instead, through
        # ``delivery_alert_state_channel``.
        indexes = [
            # alert_progress: one grouped COUNT, answered from this index alone; the
            # sweep's look-ups of an open alert's QUEUED, RETRY and SENDING rows.
            models.Index(fields=["alert", "state", "channel"], name="delivery_alert_state_channel"),
            # Status callbacks and events find their delivery by the provider's id (exact
            # match only: no LIKE index). Rows not yet handed over have none and are
            # left out: creating and claiming a delivery writes no entry here.
            models.Index(
                fields=["provider_message_id"],
                name="delivery_provider_message_id",
                condition=~models.Q(provider_message_id=""),
            ),
        ]

    def __str__(self) -> str:
        return f"delivery #{self.pk} ({self.channel}, {self.state})"


class ChannelPause(models.Model):
    """A channel whose provider cannot take our messages for now: sending on it waits.

    Two kinds, neither the fault of any one message:

    - ``account``: the provider refuses the embassy's own account (Twilio 20003 / HTTP
      401, SendGrid 401/403); nothing passes until someone fixes the configuration.
      Tried again every ``CHANNEL_PAUSE_SECONDS``.
    - ``outage``: the provider answers with server errors (HTTP 5xx), or lets requests
      time out or not connect, ``CHANNEL_OUTAGE_AFTER`` in a row with nothing accepted
      (``code``: the commonest failure: "timeout", "connection", the 5xx); without a pause
      every message would spend its attempts within minutes and fail for good. Tried
      again every ``CHANNEL_OUTAGE_PAUSE_SECONDS``.

    Instead of failing deliveries or spending their attempts, the channel pauses: the
    refused deliveries wait as RETRY (the attempt not counted), no send task claims on
    the channel, the sweep queues nothing on it, and the console shows why. At ``until``
    the sweep queues the waiting deliveries again, which tries the provider again:
    accepted, the pause ends; refused, it is renewed.
    """

    class Kind(models.TextChoices):
        ACCOUNT = "account", _("Our account refused")
        OUTAGE = "outage", _("Provider failing")
        # The database is not the one sending was recorded in (alerts.services.restore_guard):
        # held until an administrator resumes it, never by a timer or an accepted request.
        RESTORED = "restored", _("Database restored")

    channel = models.CharField(_("channel"), max_length=8, choices=Delivery.Channel.choices, unique=True)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.ACCOUNT)
    code = models.CharField(_("error code"), max_length=16, blank=True)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    since = models.DateTimeField(_("refused since"))  # the first refusal of this pause
    refused_at = models.DateTimeField(_("last refused at"))
    until = models.DateTimeField(_("tried again at"))
    refusals = models.PositiveIntegerField(_("refusals"), default=1)  # requests refused during the pause

    class Meta:
        verbose_name = _("paused channel")
        verbose_name_plural = _("paused channels")

    def __str__(self) -> str:
        return f"{self.channel} paused ({self.code})"


class DatabaseIdentity(models.Model):
    """The PostgreSQL database sending was last recorded in: one row.

    A backup restored over it, a database recreated from a dump, or a failover to a
    replica (possibly behind) shows as a different identity: sending then holds until an
    administrator resumes it (``alerts.services.restore_guard``), because deliveries
    recorded as sent after the backup read as not sent yet.
    """

    system_identifier = models.CharField(max_length=24)  # pg_control_system(): the cluster
    timeline = models.PositiveIntegerField()  # pg_control_checkpoint(): a new one after PITR or a promotion
    database_oid = models.PositiveBigIntegerField()  # pg_database.oid: a new one when recreated from a dump
    recorded_at = models.DateTimeField()
    changed_from = models.CharField(max_length=120, blank=True)  # the identity before the last change
    # The alerts open or due to start when the database last changed: every SMS of theirs
    # is looked up at Twilio before it is sent, also one their fan-out creates afresh.
    look_up_alerts = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = _("database identity")
        verbose_name_plural = _("database identity")

    def __str__(self) -> str:
        return f"cluster {self.system_identifier}, timeline {self.timeline}, database {self.database_oid}"
