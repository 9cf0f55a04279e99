"""Provider reports about messages we sent: Twilio status callbacks, SendGrid events.

Each report moves a Delivery forward along its states with one conditional UPDATE (no
read-modify-save: during a big send these arrive by the thousand per second). The
``WHERE state IN (...)`` of that UPDATE is what keeps the state machine monotonic::

    QUEUED / SENDING / RETRY --sent--> SENT --delivered--> DELIVERED
    QUEUED / SENDING / RETRY / SENT --undelivered, failed--> FAILED --delivered--> DELIVERED

A duplicate report finds its row already in the target state and changes nothing; an
out-of-order ``sent`` after ``delivered``, or a late ``failed`` after ``delivered``,
finds no row it may move. SKIPPED is never touched: that message was never sent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_noop

from alerts.models import Delivery, WebhookEvent
from alerts.services.opt_outs import opt_out_email

logger = logging.getLogger(__name__)

S = Delivery.State

# What a report may move a delivery out of, per target state.
_MAY_BECOME_SENT = (S.QUEUED, S.SENDING, S.RETRY)
_MAY_BECOME_FAILED = (S.QUEUED, S.SENDING, S.RETRY, S.SENT)
_MAY_BECOME_DELIVERED = (S.QUEUED, S.SENDING, S.RETRY, S.SENT, S.FAILED)

# Twilio MessageStatus -> our target state. "queued", "accepted", "scheduled", "sending"
# say nothing we do not know already (the API call returned), so they are not listed.
_TWILIO_STATUS = {
    "sent": S.SENT,
    "delivered": S.DELIVERED,
    "read": S.DELIVERED,  # only channels with read receipts; read implies delivered
    "undelivered": S.FAILED,
    "failed": S.FAILED,
    "canceled": S.FAILED,  # a scheduled message withdrawn before it went
}

# Twilio delivery error codes (status callback ErrorCode) in plain words for staff.
#: The carrier's delivery failures in words. Stored in English as the delivery's reason;
#: the progress page shows them in the staff's language (alerts.services.failures).
TWILIO_ERROR_REASONS = {
    "30003": gettext_noop("Phone switched off or out of coverage"),  # 30003 Unreachable destination handset
    "30004": gettext_noop("Blocked by the recipient or their carrier"),  # 30004 Message blocked
    "30005": gettext_noop("Unknown number, or no longer in service"),  # 30005 Unknown destination handset
    "30006": gettext_noop("Landline, or a carrier that cannot take SMS"),  # 30006 Landline or unreachable carrier
    "30007": gettext_noop("Filtered by the carrier as spam"),  # 30007 Message filtered (carrier violation)
    "30008": gettext_noop("Unknown delivery error"),  # 30008 Unknown error
}

_REFERENCE = re.compile(r"^delivery:(\d{1,18})$")


@dataclass(frozen=True)
class StatusOutcome:
    """What a report did: ``changed`` rows moved to ``state`` (None: nothing to do)."""

    state: str | None
    changed: int


def delivery_id_from_reference(reference: str | None) -> int | None:
    """The delivery id named by a reference like ``delivery:42``, or None."""
    match = _REFERENCE.match((reference or "").strip())
    return int(match.group(1)) if match else None


def _reason_for_twilio_error(status: str, error_code: str) -> str:
    if error_code in TWILIO_ERROR_REASONS:
        return TWILIO_ERROR_REASONS[error_code]
    if error_code:
        return f"Not delivered (Twilio error {error_code})"
    return "Cancelled before sending" if status == "canceled" else "Not delivered"


def _move(rows: Any, target: str, *, error_code: str = "", error_reason: str = "", provider_id: str = "") -> int:
    """One conditional UPDATE moving ``rows`` to ``target`` where the state machine allows."""
    now = timezone.now()
    changes: dict[str, Any] = {"state": target, "updated_at": now}
    if target == S.SENT:
        allowed = _MAY_BECOME_SENT
        changes["sent_at"] = Coalesce(F("sent_at"), now)
    elif target == S.DELIVERED:
        allowed = _MAY_BECOME_DELIVERED
        changes["delivered_at"] = now
        changes["sent_at"] = Coalesce(F("sent_at"), now)
    elif target == S.FAILED:
        allowed = _MAY_BECOME_FAILED
        changes["error_code"] = error_code[:16]
        changes["error_reason"] = error_reason[:300]
    else:  # pragma: no cover - programming error
        raise ValueError(f"reports never move a delivery to {target!r}")
    if provider_id:
        changes["provider_message_id"] = provider_id
    return rows.filter(state__in=allowed).update(**changes)


def record_sms_status(message_sid: str, status: str, *, error_code: str = "", reference: str = "") -> StatusOutcome:
    """Apply one Twilio status callback to the SMS delivery it reports on.

    The delivery is found by ``message_sid`` (Delivery.provider_message_id) or, when the
    callback URL named it (``reference="delivery:42"``) and the row has no provider id
    yet or the same one, by its id: the callback can overtake the worker that is still
    saving the id Twilio returned. Returns what changed; unknown sids and statuses that
    add nothing change nothing. Never raises for bad input.
    """
    status = (status or "").strip().lower()
    error_code = (error_code or "").strip()
    target = _TWILIO_STATUS.get(status)
    if not message_sid or target is None:
        return StatusOutcome(None, 0)
    match = Q(provider_message_id=message_sid)
    delivery_id = delivery_id_from_reference(reference)
    if delivery_id is not None:
        match |= Q(pk=delivery_id, provider_message_id="")
    rows = Delivery.objects.filter(match, channel=Delivery.Channel.SMS)
    changed = _move(
        rows,
        target,
        error_code=error_code,
        error_reason=_reason_for_twilio_error(status, error_code) if target == S.FAILED else "",
        provider_id=message_sid,
    )
    logger.info(
        "twilio status %s for %s (ref %s, error %s): %d delivery row(s) moved",
        status,
        message_sid,
        reference or "-",
        error_code or "-",
        changed,
    )
    return StatusOutcome(target, changed)


# --- SendGrid ---------------------------------------------------------------------------

_SENDGRID_FAILED = {"dropped", "bounce"}
_SENDGRID_DELIVERED = {"delivered", "open", "click"}  # an open or click implies delivery
_SENDGRID_OPT_OUT = {"unsubscribe", "group_unsubscribe", "spamreport"}


@dataclass
class EventsOutcome:
    """Counts over one batch of SendGrid events."""

    processed: int = 0
    duplicates: int = 0
    moved: int = 0
    opted_out: int = 0


def _event_reference(event: Mapping[str, Any]) -> str:
    # SendGrid flattens custom_args into the event; accept the nested form as well.
    reference = event.get("reference")
    if not reference and isinstance(event.get("custom_args"), Mapping):
        reference = event["custom_args"].get("reference")
    return reference if isinstance(reference, str) else ""


def _email_rows(event: Mapping[str, Any]) -> Any:
    """The email delivery (at most one) an event is about, as a queryset."""
    address = str(event.get("email") or "").strip().lower()
    delivery_id = delivery_id_from_reference(_event_reference(event))
    if delivery_id is not None:
        rows = Delivery.objects.filter(pk=delivery_id, channel=Delivery.Channel.EMAIL)
        # The id comes from the signed payload, but a reference must still agree with
        # the address the event is about.
        return rows.filter(address=address) if address else rows
    message_id = str(event.get("sg_message_id") or "").split(".", 1)[0]
    if message_id and address:
        # One X-Message-Id covers a whole batch of personalizations: the address picks ours.
        return Delivery.objects.filter(provider_message_id=message_id, address=address, channel=Delivery.Channel.EMAIL)
    return Delivery.objects.none()


def _apply_email_event(event: Mapping[str, Any], outcome: EventsOutcome) -> None:
    kind = str(event.get("event") or "")
    if kind in _SENDGRID_OPT_OUT:
        outcome.opted_out += opt_out_email(str(event.get("email") or ""), source=f"sendgrid {kind}")
        return
    if kind == "processed":
        outcome.moved += _move(_email_rows(event), S.SENT)
    elif kind in _SENDGRID_DELIVERED:
        outcome.moved += _move(_email_rows(event), S.DELIVERED)
    elif kind in _SENDGRID_FAILED:
        reason = str(event.get("reason") or event.get("type") or kind)
        code = str(event.get("status") or "")  # SMTP status like 5.1.1
        outcome.moved += _move(_email_rows(event), S.FAILED, error_code=code, error_reason=f"{kind}: {reason}")
    # deferred (SendGrid keeps trying), group_resubscribe and unknown kinds change nothing.


def record_email_events(events: Iterable[Mapping[str, Any]]) -> EventsOutcome:
    """Apply a batch of SendGrid Event Webhook events (already verified) to deliveries.

    Each event is applied once: its ``sg_event_id`` is recorded as a WebhookEvent in
    the same transaction, so a replayed or re-posted event changes nothing. Events
    naming ``delivery:<id>`` in their custom args find that delivery; others are found
    by the ``sg_message_id`` prefix (X-Message-Id) together with the address.
    ``unsubscribe``, ``group_unsubscribe`` and ``spamreport`` opt the address out.
    All or nothing: if applying one event fails, the batch rolls back and raises, so
    SendGrid's retry applies it again.
    """
    outcome = EventsOutcome()
    with transaction.atomic():
        for event in events:
            if not isinstance(event, Mapping):
                continue
            event_id = str(event.get("sg_event_id") or "")[:128]
            if event_id:
                try:
                    with transaction.atomic():
                        WebhookEvent.objects.create(provider="sendgrid", event_id=event_id)
                except IntegrityError:
                    outcome.duplicates += 1
                    continue
            _apply_email_event(event, outcome)
            outcome.processed += 1
    logger.info(
        "sendgrid events: %d applied, %d duplicates, %d deliveries moved, %d opt-outs",
        outcome.processed,
        outcome.duplicates,
        outcome.moved,
        outcome.opted_out,
    )
    return outcome


def prune_webhook_events(*, older_than: timedelta = timedelta(days=7)) -> int:
    """Forget processed-event keys older than ``older_than``; returns how many went.

    SendGrid retries a failed post for up to 72 hours, so a week of keys is enough to
    catch every replay it makes; a periodic task should call this.
    """
    deleted, _ = WebhookEvent.objects.filter(received_at__lt=timezone.now() - older_than).delete()
    return deleted
