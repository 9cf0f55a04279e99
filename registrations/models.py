"""Citizens, the people with them, where they are, and how their contacts were verified."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField

from registrations.geo import region_name


class Citizen(models.Model):
    """One registered person and their contacts.

    Each contact (mobile in E.164, email) is verified on its own. A contact receives
    routine alerts only when it is verified and not opted out. A verified phone or email
    belongs to one citizen only: registering again with it updates that citizen.
    """

    full_name = models.CharField(_("full name"), max_length=200)
    phone = models.CharField(_("mobile number"), max_length=16, blank=True, db_index=True)  # E.164
    phone_verified_at = models.DateTimeField(null=True, blank=True)
    phone_opted_out_at = models.DateTimeField(null=True, blank=True)  # STOP by SMS
    email = models.EmailField(_("email"), max_length=254, blank=True, db_index=True)  # stored lower-case
    email_verified_at = models.DateTimeField(null=True, blank=True)
    email_opted_out_at = models.DateTimeField(null=True, blank=True)  # unsubscribe
    preferred_language = models.CharField(
        _("preferred language"), max_length=8, choices=settings.ALERT_LANGUAGES, default="en"
    )
    emergency_contact_name = models.CharField(_("emergency contact name"), max_length=200, blank=True)
    emergency_contact_phone = models.CharField(_("emergency contact phone"), max_length=16, blank=True)
    emergency_contact_email = models.EmailField(_("emergency contact email"), max_length=254, blank=True)
    consent_at = models.DateTimeField(_("consented to be contacted at"))
    # Bumped to revoke every self-service link sent so far.
    link_generation = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["phone"],
                condition=Q(phone_verified_at__isnull=False) & ~Q(phone=""),
                name="citizen_unique_verified_phone",
            ),
            models.UniqueConstraint(
                fields=["email"],
                condition=Q(email_verified_at__isnull=False) & ~Q(email=""),
                name="citizen_unique_verified_email",
            ),
            models.CheckConstraint(condition=~Q(phone="") | ~Q(email=""), name="citizen_has_a_contact"),
        ]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return self.full_name

    @property
    def phone_reachable(self) -> bool:
        return bool(self.phone and self.phone_verified_at and not self.phone_opted_out_at)

    @property
    def email_reachable(self) -> bool:
        return bool(self.email and self.email_verified_at and not self.email_opted_out_at)

    @property
    def is_verified(self) -> bool:
        return bool(self.phone_verified_at or self.email_verified_at)

    @property
    def people_count(self) -> int:
        """The citizen plus everyone registered with them."""
        return 1 + self.household.count()


class HouseholdMember(models.Model):
    """Someone travelling or living with a citizen; alerts count people, not rows."""

    class Relationship(models.TextChoices):
        PARTNER = "partner", _("Spouse or partner")
        CHILD = "child", _("Child")
        PARENT = "parent", _("Parent")
        SIBLING = "sibling", _("Brother or sister")
        RELATIVE = "relative", _("Other relative")
        OTHER = "other", _("Other")

    class AgeGroup(models.TextChoices):
        CHILD = "child", _("Child (under 18)")
        ADULT = "adult", _("Adult (18 to 64)")
        SENIOR = "senior", _("Senior (65 or over)")

    citizen = models.ForeignKey(Citizen, on_delete=models.CASCADE, related_name="household")
    full_name = models.CharField(_("name"), max_length=200)
    relationship = models.CharField(_("relationship"), max_length=16, choices=Relationship.choices)
    age_group = models.CharField(_("age group"), max_length=8, choices=AgeGroup.choices)

    def __str__(self) -> str:
        return self.full_name


class PresenceQuerySet(models.QuerySet["Presence"]):
    def current(self, on: datetime.date | None = None) -> PresenceQuerySet:
        """Presences that hold on ``on`` (today by default) and were not ended.

        "Today" is the date in ``settings.TIME_ZONE`` (UTC), whatever zone is active: the
        console turns on the post's zone for its pages, and an audience counted there
        must be the one a worker's fan-out reaches.
        """
        day = on or timezone.localdate(timezone=timezone.get_default_timezone())
        return self.filter(
            Q(ended_at__isnull=True),
            Q(arrival_date__isnull=True) | Q(arrival_date__lte=day),
            Q(departure_date__isnull=True) | Q(departure_date__gte=day),
        )


class Presence(models.Model):
    """Where a citizen is: a country, optionally a region (ISO 3166-2) and city, for dates.

    A citizen may hold several (trips). ``lives_here`` means no departure date is
    expected. A presence the citizen ends keeps its row with ``ended_at`` set. A
    "departed" check-in does not end it: the accountability board must still count that
    person, as departed, in the area they left.
    """

    citizen = models.ForeignKey(Citizen, on_delete=models.CASCADE, related_name="presences")
    country = CountryField(_("country"))
    region = models.CharField(_("region"), max_length=8, blank=True)  # ISO 3166-2, e.g. AF-KAB
    city = models.CharField(_("city"), max_length=120, blank=True)
    latitude = models.DecimalField(_("latitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(_("longitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    arrival_date = models.DateField(_("arriving"), null=True, blank=True)
    departure_date = models.DateField(_("leaving"), null=True, blank=True)
    lives_here = models.BooleanField(_("I live here"), default=False)
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PresenceQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(departure_date__isnull=True)
                | Q(arrival_date__isnull=True)
                | Q(departure_date__gte=models.F("arrival_date")),
                name="presence_departure_after_arrival",
            ),
            models.CheckConstraint(
                condition=Q(latitude__isnull=True, longitude__isnull=True)
                | Q(latitude__isnull=False, longitude__isnull=False),
                name="presence_point_has_both_coordinates",
            ),
        ]
        indexes = [models.Index(fields=["country", "region"])]

    def __str__(self) -> str:
        # The region's name, not its ISO code: citizens (manage page) and staff (inbox)
        # read it, and "AF-KAB" means nothing to most of them.
        return ", ".join(part for part in (self.city, region_name(self.region), str(self.country.name)) if part)


class Verification(models.Model):
    """One attempt to prove a contact belongs to the citizen.

    SMS: a 6-digit code, stored only as a keyed hash. Email: a signed link naming this
    row. Either expires at ``expires_at`` and allows ``VERIFICATION_MAX_ATTEMPTS`` wrong
    codes; ``used_at`` is set once it has verified.

    Its message (the code or the link) reaches the person once, through PostgreSQL even
    when Redis fails it (``registrations.verification_messages``)::

        not queued --beat--> queued --a task claims it--> claimed --the provider answers--> answered
                               ^                            |                                (never sent again)
                               +----------------------------+ the provider did not take it (retried), or no
                                                              answer long after the claim (beat: its worker died)

    Not queued: its publish failed (Redis down). Beat also queues again a queued one whose
    task is long overdue (Redis lost it), and one claimed ``VERIFICATION_CLAIM_STALE_SECONDS``
    ago whose provider's answer never came (longer than a live task can take). Only one
    task can claim a message, and none once the verification was used or expired.
    """

    class Channel(models.TextChoices):
        SMS = "sms", "SMS"
        EMAIL = "email", "Email"

    citizen = models.ForeignKey(Citizen, on_delete=models.CASCADE, related_name="verifications")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    address = models.CharField(max_length=254)
    code_hash = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # When its message was last handed to the broker; None: that failed, the beat will.
    queued_at = models.DateTimeField(null=True, blank=True)
    # When a task claimed its message for the provider (set before the provider is asked,
    # cleared only when the provider did not take it): it is never sent twice.
    sent_at = models.DateTimeField(null=True, blank=True)
    # When the provider answered that claim: took the message, or refused it for good.
    # A claim without an answer long after it was made lost its worker (killed mid-send).
    answered_at = models.DateTimeField(null=True, blank=True)
    # How many times the beat took back a claim whose answer never came, and sent again.
    resends = models.PositiveSmallIntegerField(default=0)

    class Meta:
        indexes = [
            # The beat's question: messages still to send, by how long they are worth it.
            models.Index(
                fields=["expires_at"],
                condition=Q(sent_at__isnull=True, used_at__isnull=True),
                name="verification_unsent",
            ),
            # ... and claims whose provider's answer never came (a handful at any time).
            models.Index(
                fields=["sent_at"],
                condition=Q(sent_at__isnull=False, answered_at__isnull=True, used_at__isnull=True),
                name="verification_unanswered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} verification #{self.pk}"


class ManageLinkRequest(models.Model):
    """A self-service link asked for and not sent yet: kept in PostgreSQL so that a link
    asked for while Redis is down goes out once it is back
    (``registrations.manage_links``)::

        not queued --beat--> queued --a task claims it--> claimed --provider took it--> (row deleted)
                               ^                            |
                               +--provider did not take it, retried

    At most one waits per citizen and channel: asking again while one waits adds
    nothing, so the person gets one link however often they asked. The link itself is
    made when the message is (it names the citizen, signed with SECRET_KEY) and goes to
    the citizen's confirmed contact on that channel; the row holds no address. A row
    past ``expires_at`` is deleted by the beat, sent or not.
    """

    class Channel(models.TextChoices):
        SMS = "sms", "SMS"
        EMAIL = "email", "Email"

    citizen = models.ForeignKey(Citizen, on_delete=models.CASCADE, related_name="manage_link_requests")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    # Not worth sending after this (SELF_SERVICE_LINK_TTL_SECONDS after it was asked for).
    expires_at = models.DateTimeField()
    # When its message was last handed to the broker; None: that failed, the beat will.
    queued_at = models.DateTimeField(null=True, blank=True)
    # When a task claimed it for the provider (cleared only when the provider did not take it).
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["citizen", "channel"], condition=Q(sent_at__isnull=True), name="manage_link_one_waiting"
            )
        ]
        indexes = [models.Index(fields=["expires_at"], name="manage_link_expiry")]

    def __str__(self) -> str:
        return f"{self.channel} self-service link request #{self.pk}"
