"""Erasure: when a citizen is deleted, nothing that names or reaches them is left.

``erase_citizen`` is the one way a citizen is deleted: the self-service "delete" page,
the Django admin's delete (one citizen, or the "delete selected" action) and the
retention of registrations never confirmed (``embassy.retention``) call it
(``registrations.services.delete_citizen``, its old name, for a request by shell).

What goes, in one transaction:

- the citizen, their presences, household, verifications and check-ins;
- inbound SMS linked to them, and those linked to nobody that came from a number they
  held (now or before: their current mobile, the numbers their verifications and
  deliveries went to, the numbers their linked messages came from). A message linked to
  another citizen stays: it is that citizen's;
- the development outbox's copies of messages to any of their addresses or about them
  (their deliveries, verifications, self-service links);
- in the Django admin's log (``django_admin_log``), the name of the citizen and of their
  household members and presences: ``object_repr`` becomes "citizen #12 (erased)" and
  ``change_message`` (which names changed inline rows) is emptied; who did what and when
  stays;
- in the audit trail, the same for any entry about them (none is written today: staff
  actions name alerts, areas and staff, and an inbox entry names "inbound other #5").

Deliveries stay, so that an alert's counts do not change: each is unlinked from the
citizen, its address replaced by ``erased:<delivery id>`` (unique, as the key needs)
and their address taken out of the provider's error text (a bounce names the address).
Those not yet sent (queued, waiting to retry) end skipped "citizen removed", as the
pipeline would have ended them; one being sent keeps its state and is settled by the
worker's answer or the provider's callback as any other.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import CharField, F, Q, Value
from django.db.models.functions import Cast, Concat, Replace
from django.utils import timezone

from alerts.models import AuditEntry, CheckIn, Delivery, InboundMessage, OutboxMessage
from registrations.models import Citizen, HouseholdMember, Presence, Verification

logger = logging.getLogger(__name__)

#: error_code and reason of a delivery not yet sent when its citizen was erased (the
#: fan-out's own words for a recipient who is gone).
REMOVED_CODE = "removed"
REMOVED_REASON = "citizen removed"
#: what replaces an erased address inside a provider's error text
ERASED_TEXT = "[erased]"


@dataclass(frozen=True)
class ErasureReport:
    """What one erasure did: ``erased`` is False when the citizen was already gone (then
    every count is 0); the counts are rows per kind."""

    citizen_id: int
    erased: bool = False
    deliveries_unlinked: int = 0
    deliveries_skipped: int = 0
    inbound_messages: int = 0
    check_ins: int = 0
    verifications: int = 0
    outbox_messages: int = 0
    admin_log_entries: int = 0
    audit_entries: int = 0


def erased_repr(model: type, pk: object) -> str:
    """What the admin log and the audit trail say instead of an erased object's name."""
    return f"{model._meta.verbose_name} #{pk} (erased)"


def erase_citizen(citizen: Citizen | int) -> ErasureReport:
    """Delete ``citizen`` and everything that names or reaches them (module docstring).

    One transaction: all of it or nothing. A citizen already deleted (a second click, two
    staff at once) is not an error: the report says nothing was done.
    """
    citizen_id = citizen.pk if isinstance(citizen, Citizen) else int(citizen)
    with transaction.atomic():
        # Locked: a verification or merge in flight waits, and sees the citizen gone.
        locked = Citizen.objects.select_for_update().filter(pk=citizen_id).first()
        if locked is None:
            return ErasureReport(citizen_id=citizen_id)
        report = _erase(locked)
    logger.info("citizen %s erased", citizen_id)
    return report


def _erase(citizen: Citizen) -> ErasureReport:
    phones, emails = _addresses_held(citizen)
    addresses = phones | emails

    # A delivery of a live alert linked to nobody but sent to one of their addresses is
    # theirs too (a registration merged away); a test alert's go to the staff test list.
    theirs = Q(citizen=citizen) | Q(citizen__isnull=True, alert__is_test=False, address__in=addresses)
    delivery_ids = list(Delivery.objects.filter(theirs).values_list("pk", flat=True))
    now = timezone.now()
    skipped = Delivery.objects.filter(
        pk__in=delivery_ids, state__in=(Delivery.State.QUEUED, Delivery.State.RETRY)
    ).update(
        state=Delivery.State.SKIPPED,
        error_code=REMOVED_CODE,
        error_reason=REMOVED_REASON,
        next_attempt_at=None,
        updated_at=now,
    )
    # One UPDATE: the right-hand sides read the row as it was, so the reason loses the
    # old address before the address itself goes.
    unlinked = Delivery.objects.filter(pk__in=delivery_ids).update(
        error_reason=Replace(F("error_reason"), F("address"), Value(ERASED_TEXT)),
        address=Concat(Value("erased:"), Cast("pk", output_field=CharField())),
        citizen=None,
        updated_at=now,
    )

    _, gone = InboundMessage.objects.filter(
        Q(citizen=citizen) | Q(citizen__isnull=True, from_number__in=phones)
    ).delete()
    inbound = gone.get(InboundMessage._meta.label, 0)
    _, gone = CheckIn.objects.filter(citizen=citizen).delete()
    check_ins = gone.get(CheckIn._meta.label, 0)
    verification_ids = list(Verification.objects.filter(citizen=citizen).values_list("pk", flat=True))
    Verification.objects.filter(pk__in=verification_ids).delete()

    references = (
        [f"delivery:{pk}" for pk in delivery_ids]
        + [f"verification:{pk}" for pk in verification_ids]
        + [f"manage:{citizen.pk}"]
    )
    outbox, _ = OutboxMessage.objects.filter(Q(to__in=addresses) | Q(reference__in=references)).delete()

    named = {
        Citizen: [citizen.pk],
        HouseholdMember: list(citizen.household.values_list("pk", flat=True)),
        Presence: list(citizen.presences.values_list("pk", flat=True)),
    }
    log_entries = audit_entries = 0
    for model, pks in named.items():
        if not pks:
            continue
        ids = [str(pk) for pk in pks]
        erased = Concat(
            Value(f"{model._meta.verbose_name} #"), F("object_id"), Value(" (erased)"), output_field=CharField()
        )
        log_entries += LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(model, for_concrete_model=False), object_id__in=ids
        ).update(object_repr=erased, change_message="")
        audit_entries += AuditEntry.objects.filter(object_type=model._meta.label_lower, object_id__in=ids).update(
            object_repr=erased, before=None, after=None
        )

    citizen_id = citizen.pk
    citizen.delete()  # presences and household go with it
    return ErasureReport(
        citizen_id=citizen_id,
        erased=True,
        deliveries_unlinked=unlinked,
        deliveries_skipped=skipped,
        inbound_messages=inbound,
        check_ins=check_ins,
        verifications=len(verification_ids),
        outbox_messages=outbox,
        admin_log_entries=log_entries,
        audit_entries=audit_entries,
    )


def _addresses_held(citizen: Citizen) -> tuple[set[str], set[str]]:
    """The mobile numbers and the email addresses ``citizen`` holds or held, as far as
    our records tell: their own, and those their verifications and deliveries went to
    and their linked messages came from."""
    phones = {citizen.phone} if citizen.phone else set()
    emails = {citizen.email} if citizen.email else set()
    for channel, address in Verification.objects.filter(citizen=citizen).values_list("channel", "address"):
        (phones if channel == Verification.Channel.SMS else emails).add(address)
    for channel, address in Delivery.objects.filter(citizen=citizen).values_list("channel", "address").distinct():
        (phones if channel == Delivery.Channel.SMS else emails).add(address)
    phones.update(InboundMessage.objects.filter(citizen=citizen).values_list("from_number", flat=True).distinct())
    return (
        {p for p in phones if p and not p.startswith("erased:")},
        {e for e in emails if e and not e.startswith("erased:")},
    )
