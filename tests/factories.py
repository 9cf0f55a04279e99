"""factory_boy factories shared by every test package.

Defaults make a plain, valid row: a verified citizen reachable by SMS and email, a
current presence, a draft alert, a queued SMS delivery. Traits and keyword arguments
say what a test needs beyond that (``DeliveryFactory(sent=True)``,
``CitizenFactory(unverified=True)``). Extend here rather than in a test module.
"""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone
from factory.django import DjangoModelFactory

from alerts.models import Alert, Area, CheckIn, Delivery, InboundMessage
from registrations.models import Citizen, Presence

TEST_PASSWORD = "correct horse battery staple"


class UserFactory(DjangoModelFactory):
    """A staff member (``is_staff``) with password ``TEST_PASSWORD``."""

    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True  # roles are group rows; the user itself is already saved

    username = factory.Sequence(lambda n: f"staff{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@embassy.example")
    is_staff = True
    password = factory.django.Password(TEST_PASSWORD)

    @factory.post_generation
    def roles(self, create: bool, extracted: object, **kwargs: object) -> None:
        """``UserFactory(roles=[Role.APPROVER])`` gives console roles."""
        if create and extracted:
            from alerts.console.permissions import assign_role

            for role in extracted:  # type: ignore[attr-defined]
                assign_role(self, role)


class CitizenFactory(DjangoModelFactory):
    """A citizen with a verified mobile (UK drama range, +44 7700 9xxxxx) and email."""

    class Meta:
        model = Citizen

    full_name = factory.Faker("name")
    phone = factory.Sequence(lambda n: f"+4477009{n % 100000:05d}")
    phone_verified_at = factory.LazyFunction(timezone.now)
    email = factory.Sequence(lambda n: f"citizen{n}@example.org")
    email_verified_at = factory.LazyFunction(timezone.now)
    preferred_language = "en"
    consent_at = factory.LazyFunction(timezone.now)

    class Params:
        unverified = factory.Trait(phone_verified_at=None, email_verified_at=None)
        phone_only = factory.Trait(email="", email_verified_at=None)
        email_only = factory.Trait(phone="", phone_verified_at=None)
        phone_opted_out = factory.Trait(phone_opted_out_at=factory.LazyFunction(timezone.now))
        email_opted_out = factory.Trait(email_opted_out_at=factory.LazyFunction(timezone.now))


class PresenceFactory(DjangoModelFactory):
    """A current presence in Kabul, Afghanistan."""

    class Meta:
        model = Presence

    citizen = factory.SubFactory(CitizenFactory)
    country = "AF"
    region = "AF-KAB"
    city = "Kabul"
    lives_here = True


class AreaFactory(DjangoModelFactory):
    """A whole country at level 1 (``region=""``); pass ``region`` for a region."""

    class Meta:
        model = Area
        django_get_or_create = ("country", "region")

    country = "AF"
    region = ""
    name = factory.LazyAttribute(lambda o: f"{o.country} {o.region}".strip())
    level = 1


class AlertFactory(DjangoModelFactory):
    """A draft test alert (the model's safe defaults) written by a staff member."""

    class Meta:
        model = Alert

    title = factory.Sequence(lambda n: f"Alert {n}")
    created_by = factory.SubFactory(UserFactory)

    class Params:
        live = factory.Trait(is_test=False)
        sending = factory.Trait(state=Alert.State.SENDING, started_at=factory.LazyFunction(timezone.now))


class DeliveryFactory(DjangoModelFactory):
    """A queued SMS delivery to the citizen's mobile; ``channel="email"`` for their email.

    Traits: ``sent`` (accepted by the provider, with a provider id), ``delivered``.
    """

    class Meta:
        model = Delivery

    alert = factory.SubFactory(AlertFactory)
    citizen = factory.SubFactory(CitizenFactory)
    channel = Delivery.Channel.SMS
    address = factory.LazyAttribute(lambda o: o.citizen.phone if o.channel == Delivery.Channel.SMS else o.citizen.email)
    language = "en"
    state = Delivery.State.QUEUED

    class Params:
        sent = factory.Trait(
            state=Delivery.State.SENT,
            attempts=1,
            sent_at=factory.LazyFunction(timezone.now),
            provider_message_id=factory.Sequence(lambda n: f"SM{n:032x}"),
        )
        delivered = factory.Trait(
            state=Delivery.State.DELIVERED,
            attempts=1,
            sent_at=factory.LazyFunction(timezone.now),
            delivered_at=factory.LazyFunction(timezone.now),
            provider_message_id=factory.Sequence(lambda n: f"SM{n:032x}"),
        )


class InboundMessageFactory(DjangoModelFactory):
    class Meta:
        model = InboundMessage

    provider_message_id = factory.Sequence(lambda n: f"SM{n:032x}")
    citizen = factory.SubFactory(CitizenFactory)
    from_number = factory.LazyAttribute(lambda o: o.citizen.phone if o.citizen else "+15005550006")
    to_number = "+15005550000"
    body = "hello"
    kind = InboundMessage.Kind.OTHER


class CheckInFactory(DjangoModelFactory):
    class Meta:
        model = CheckIn

    citizen = factory.SubFactory(CitizenFactory)
    status = CheckIn.Status.SAFE
    source = CheckIn.Source.LINK


# --- the alert pipeline (tests/pipeline) -------------------------------------------------


class HouseholdMemberFactory(DjangoModelFactory):
    class Meta:
        model = "registrations.HouseholdMember"

    citizen = factory.SubFactory(CitizenFactory)
    full_name = factory.Faker("name")
    relationship = "child"
    age_group = "child"


class AlertTemplateFactory(DjangoModelFactory):
    """The English template of level 4, using every kind of placeholder."""

    class Meta:
        model = "alerts.AlertTemplate"
        django_get_or_create = ("level", "language")

    level = 4
    language = "en"
    sms_text = "{name}: {area} is now level {level} ({level_name}). {checkin_words}"
    email_subject = "{area}: {level_name}"
    email_body = "Dear {name},\n{area} is at level {level}.\nCheck in: {checkin_link}\nStop: {unsubscribe_link}"


class AlertTextFactory(DjangoModelFactory):
    class Meta:
        model = "alerts.AlertText"

    alert = factory.SubFactory(AlertFactory)
    language = "en"
    sms_text = "Hello {name}, leave {area} now. {checkin_words}"
    email_subject = "Leave {area}"
    email_body = "Dear {name}, leave now. {checkin_link}"


class StaffTestRecipientFactory(DjangoModelFactory):
    class Meta:
        model = "alerts.StaffTestRecipient"

    name = factory.Sequence(lambda n: f"Tester {n}")
    phone = factory.Sequence(lambda n: f"+4477008{n % 100000:05d}")
    email = factory.Sequence(lambda n: f"tester{n}@embassy.example")
