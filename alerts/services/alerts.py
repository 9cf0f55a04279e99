"""An alert's way from draft to sent: submit, approve (two people), abort, correct.

Every function here locks the alert row, checks the state machine written on
``Alert`` and either makes the move or raises an ``AlertError`` subclass with a message
for staff; nothing is half-saved. Tasks are queued only after the transaction commits.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext, pgettext

from alerts.errors import AlertContentError, AlertStateError, ApprovalError
from alerts.levels import highest_level
from alerts.models import Alert, AlertText, Delivery, StaffTestRecipient
from alerts.services.areas import excluded_area_problems
from alerts.services.audience import compute_audience
from alerts.services.rendering import placeholder_errors_by_field
from alerts.timezones import isolate, utc_offset

logger = logging.getLogger(__name__)

S = Alert.State


def _lock(alert: Alert | int) -> Alert:
    return Alert.objects.select_for_update().get(pk=alert.pk if isinstance(alert, Alert) else alert)


def _refresh(target: Alert | int, locked: Alert) -> Alert:
    """Copy the saved state back onto the caller's instance, so it sees the change."""
    if isinstance(target, Alert):
        target.refresh_from_db()
        return target
    return locked


def _require(alert: Alert, allowed: tuple[str, ...], doing: str) -> None:
    if alert.state not in allowed:
        names = gettext(" or ").join(str(S(s).label) for s in allowed)
        raise AlertStateError(
            gettext("Cannot %(action)s an alert that is %(state)s; it must be %(allowed)s.")
            % {"action": doing, "state": str(S(alert.state).label).lower(), "allowed": names}
        )


def format_time(moment: datetime.datetime) -> str:
    """``moment`` as staff read it in a message, in the active time zone with its offset:
    "2021-08-15 18:00 UTC+04:30" on the console of a post in Kabul, "2021-08-15 13:30 UTC"
    where UTC is active (kept whole inside Dari words: ``isolate``)."""
    local = timezone.localtime(moment)
    return isolate(f"{local:%Y-%m-%d %H:%M} {utc_offset(local)}")


def expiry_problem(expires_at: datetime.datetime | None, now: datetime.datetime | None = None) -> str:
    """Why an alert expiring at ``expires_at`` cannot go out any more ("" when it can).

    An alert's information is void after its expiry: nothing of it is sent later
    (``alerts.services.fanout``), so one already past it is refused before it starts.
    """
    if expires_at is None or expires_at > (now or timezone.now()):
        return ""
    return gettext("The expiry time (%(time)s) has passed: set a later one, or leave it empty.") % {
        "time": format_time(expires_at)
    }


def content_problems(alert: Alert) -> list[str]:
    """What stops ``alert`` from going out as written (empty when it can)."""
    problems: list[str] = []
    expired = expiry_problem(alert.expires_at)
    if expired:
        problems.append(expired)
    if not alert.channels:
        problems.append(gettext("Choose at least one channel (SMS or email)."))
    texts = {t.language: t for t in AlertText.objects.filter(alert=alert)}
    fallback = texts.get(alert.fallback_language)
    if fallback is None:
        problems.append(
            gettext("Write the text in the fallback language (%(language)s).") % {"language": alert.fallback_language}
        )
    for language, text in sorted(texts.items()):
        if alert.send_sms and not text.sms_text.strip() and language == alert.fallback_language:
            problems.append(gettext("The SMS text in %(language)s is empty.") % {"language": language})
        if alert.send_email and language == alert.fallback_language:
            if not text.email_subject.strip():
                problems.append(gettext("The email subject in %(language)s is empty.") % {"language": language})
            if not text.email_body.strip():
                problems.append(gettext("The email body in %(language)s is empty.") % {"language": language})
        for field, errors in placeholder_errors_by_field(text).items():
            problems.extend(f"{language} {field}: {e}" for e in errors)
    if alert.is_test:
        if not StaffTestRecipient.objects.filter(active=True).exists():
            problems.append(gettext("The staff test list is empty: add a test recipient first."))
    else:
        has_area = alert.areas.exists()
        has_radius = alert.center_latitude is not None and alert.center_longitude is not None and bool(alert.radius_km)
        if not (has_area or has_radius or alert.references_id):
            problems.append(gettext("Choose who receives it: one or more areas, or a radius around a point."))
        problems.extend(excluded_area_problems(alert.areas.all(), alert.excluded_areas.all()))
    if alert.msg_type != Alert.MsgType.ALERT and not alert.references_id:
        problems.append(gettext("An update or cancellation must reference the alert it corrects."))
    return problems


def _check_content(alert: Alert) -> None:
    problems = content_problems(alert)
    if problems:
        raise AlertContentError(
            gettext("The alert cannot go out yet: %(problems)s") % {"problems": " ".join(problems)}, problems
        )


def is_urgent(alert: Alert) -> bool:
    """An alert urgent enough that the approver may include unverified contacts.

    Urgency Immediate, severity Extreme, or announcing the top advisory level.
    """
    return (
        alert.urgency == Alert.Urgency.IMMEDIATE
        or alert.severity == Alert.Severity.EXTREME
        or (alert.advisory_level is not None and alert.advisory_level >= highest_level())
    )


def submit_for_approval(alert: Alert | int, *, by: AbstractBaseUser) -> Alert:
    """DRAFT -> AWAITING_APPROVAL, once the texts and audience are complete and the
    expiry time (if any) is still ahead.

    Counts the audience (``alert.audience_summary``) for the approver to see.
    Raises AlertStateError, AlertContentError.
    """
    with transaction.atomic():
        locked = _lock(alert)
        _require(locked, (S.DRAFT,), pgettext("alert action", "submit"))
        _check_content(locked)
        locked.state = S.AWAITING_APPROVAL
        locked.submitted_at = timezone.now()
        locked.save(update_fields=["state", "submitted_at", "updated_at"])
        compute_audience(locked)
    return _refresh(alert, locked)


def return_to_draft(alert: Alert | int, *, by: AbstractBaseUser) -> Alert:
    """AWAITING_APPROVAL -> DRAFT, for changes. Raises AlertStateError."""
    with transaction.atomic():
        locked = _lock(alert)
        _require(locked, (S.AWAITING_APPROVAL,), pgettext("alert action", "return to draft"))
        locked.state = S.DRAFT
        locked.save(update_fields=["state", "updated_at"])
    return _refresh(alert, locked)


def cancel_alert(alert: Alert | int, *, by: AbstractBaseUser) -> Alert:
    """DRAFT / AWAITING_APPROVAL -> CANCELLED (withdrawn; nothing was sent)."""
    with transaction.atomic():
        locked = _lock(alert)
        _require(locked, (S.DRAFT, S.AWAITING_APPROVAL), pgettext("alert action", "cancel"))
        locked.state = S.CANCELLED
        locked.cancelled_at = timezone.now()
        locked.save(update_fields=["state", "cancelled_at", "updated_at"])
    return _refresh(alert, locked)


def _approved_summary(summary: dict[str, Any], include_unverified: bool) -> dict[str, Any]:
    """The submission's counts with the approver's choice applied, until the recount.

    ``unverified`` says what including unverified contacts adds, so no scan is needed
    here; the counts are recomputed after the fan-out is queued.
    """
    summary = dict(summary)
    if summary and include_unverified and not summary.get("include_unverified"):
        extra = summary.get("unverified") or {}
        added = extra.get("addresses") or {}
        summary["addresses"] = {ch: n + int(added.get(ch, 0)) for ch, n in (summary.get("addresses") or {}).items()}
        for key in ("citizens", "people"):
            summary[key] = int(summary.get(key, 0)) + int(extra.get("citizens", 0))
        summary["unreachable_citizens"] = max(
            0, int(summary.get("unreachable_citizens", 0)) - int(extra.get("citizens", 0))
        )
    summary["include_unverified"] = include_unverified
    return summary


def approve_alert(
    alert: Alert | int,
    *,
    by: AbstractBaseUser,
    include_unverified: bool = False,
    send_at: datetime.datetime | None = None,
) -> Alert:
    """AWAITING_APPROVAL -> SCHEDULED; the fan-out starts after commit (or at ``send_at``).

    A live alert needs a staff approver who is not its author; a test alert may be
    approved by its author and goes only to the staff test list. ``include_unverified``
    is the approver's explicit choice, allowed only for an urgent live alert (opted-out
    addresses are never included). An alert past its ``expires_at`` is refused
    (AlertContentError), and so is a ``send_at`` at or after it (ApprovalError): either
    would be approved only to send nothing. A live alert gets its ready cancellation
    drafted (``prepare_cancellation``). Raises AlertStateError, ApprovalError,
    AlertContentError.
    """
    from alerts.console.permissions import Role, has_role
    from alerts.tasks import count_audience as count_audience_task
    from alerts.tasks import start_fan_out as start_fan_out_task

    # Roles, not Django's is_staff flag, say who approves (the console's one table of rules).
    if not getattr(by, "is_active", False) or not has_role(by, Role.APPROVER):
        raise ApprovalError(gettext("Only an active staff member with the approver role can approve alerts."))
    if send_at is not None and timezone.is_naive(send_at):
        raise ApprovalError(gettext("The send time must carry a time zone."))
    with transaction.atomic():
        locked = _lock(alert)
        _require(locked, (S.AWAITING_APPROVAL,), pgettext("alert action", "approve"))
        if not locked.is_test and locked.created_by_id == by.pk:
            raise ApprovalError(gettext("You wrote this live alert; a second staff member must approve it."))
        if include_unverified and locked.is_test:
            raise ApprovalError(
                gettext("Test alerts go only to the staff test list; unverified contacts cannot be included.")
            )
        if include_unverified and not is_urgent(locked):
            raise ApprovalError(
                gettext(
                    "Unverified contacts may be included only in an urgent alert "
                    "(urgency Immediate, severity Extreme, or the top advisory level)."
                )
            )
        _check_content(locked)
        if send_at is not None and locked.expires_at is not None and send_at >= locked.expires_at:
            raise ApprovalError(
                gettext("The send time (%(send_at)s) must be before the alert expires (%(expires_at)s).")
                % {"send_at": format_time(send_at), "expires_at": format_time(locked.expires_at)}
            )
        now = timezone.now()
        locked.state = S.SCHEDULED
        locked.approved_by = by  # type: ignore[assignment]
        locked.approved_at = now
        locked.include_unverified = include_unverified
        locked.send_at = send_at
        locked.audience_summary = _approved_summary(locked.audience_summary or {}, include_unverified)
        locked.save(
            update_fields=[
                "state",
                "approved_by",
                "approved_at",
                "include_unverified",
                "send_at",
                "audience_summary",
                "updated_at",
            ]
        )
        if not locked.is_test and locked.msg_type == Alert.MsgType.ALERT:
            prepare_cancellation(locked, by=by)
        if send_at is None or send_at <= now:
            # The fan-out first: the counts (a scan of the whole audience, seconds at a
            # million) are recomputed after it is queued, off the approval's path; until
            # then the console shows those of the submission.
            alert_id = locked.pk

            def start_then_count() -> None:
                from alerts.notify import BROKER_ERRORS

                try:
                    start_fan_out_task.delay(alert_id)
                    count_audience_task.delay(alert_id)
                except BROKER_ERRORS as exc:
                    # Approved and committed: beat's start_due_alerts starts it once the
                    # broker answers. The approver gets their page, and the console's
                    # banner says nothing is being sent.
                    logger.warning(
                        "alert %s approved; its fan-out could not be queued (%s): it starts when the broker answers",
                        alert_id,
                        type(exc).__name__,
                    )

            transaction.on_commit(start_then_count)
        else:
            compute_audience(locked)
    return _refresh(alert, locked)


def abort_alert(alert: Alert | int, *, by: AbstractBaseUser) -> int:
    """SCHEDULED / SENDING -> ABORTED: what has not been handed to a provider is not sent.

    Every QUEUED or RETRY delivery becomes SKIPPED "aborted" in the same transaction;
    send tasks check the alert's state when they claim, so at most the round already
    claimed (``SMS_CLAIM_SIZE`` SMS, one email batch) still goes. Returns how many
    deliveries were skipped. Raises AlertStateError.
    """
    with transaction.atomic():
        locked = _lock(alert)
        _require(locked, (S.SCHEDULED, S.SENDING), pgettext("alert action", "abort"))
        now = timezone.now()
        locked.state = S.ABORTED
        locked.aborted_at = now
        locked.aborted_by = by  # type: ignore[assignment]
        locked.save(update_fields=["state", "aborted_at", "aborted_by", "updated_at"])
        skipped = Delivery.objects.filter(alert=locked, state__in=(Delivery.State.QUEUED, Delivery.State.RETRY)).update(
            state=Delivery.State.SKIPPED, error_code="aborted", error_reason="aborted", updated_at=now
        )
    if isinstance(alert, Alert):
        alert.refresh_from_db()
    return skipped


#: An alert whose "outcome unknown" messages may be sent again (``resend_outcome_unknown``).
RESENDABLE_STATES = (S.SENDING, S.SENT)


def _expired(alert: Alert, now: datetime.datetime) -> bool:
    return alert.expires_at is not None and alert.expires_at <= now


def can_resend_outcome_unknown(alert: Alert) -> bool:
    """Whether ``resend_outcome_unknown`` would take ``alert`` now (its state and expiry;
    who may ask is the console's question): for the page that offers it."""
    return alert.state in RESENDABLE_STATES and not _expired(alert, timezone.now())


def resend_outcome_unknown(alert: Alert | int, *, by: AbstractBaseUser) -> dict[str, int]:
    """Send again the messages of ``alert`` that ended "outcome unknown": a staff decision,
    since the provider may have taken them (a second copy) or not (a person never warned).

    - Email cannot be looked up: each goes again (QUEUED, attempts from zero).
    - SMS: each is looked up at Twilio first, as an unclear attempt is (RETRY with an
      unclear outcome): sent again only if Twilio does not have it. Twilio could not be
      asked for a long while when it was ended; it may answer now.

    A SENT alert goes back to SENDING until they are final again. Not for an alert that
    is aborted, not yet sending, or past its expiry. Returns the count per channel.
    Raises AlertStateError. ``by`` is who decided (the caller records it in the audit).
    """
    from alerts.services.fanout import queue_send_tasks

    with transaction.atomic():
        locked = _lock(alert)
        _require(locked, RESENDABLE_STATES, pgettext("alert action", "send again"))
        now = timezone.now()
        if _expired(locked, now):
            raise AlertStateError(gettext("This alert has expired: nothing more is sent for it."))
        D = Delivery.State  # noqa: N806
        unknown = Delivery.objects.filter(alert=locked, state=D.FAILED, error_code="unknown")
        ids: dict[str, list[int]] = {}
        for pk, channel in unknown.order_by("pk").values_list("pk", "channel"):
            ids.setdefault(channel, []).append(pk)
        reason = "sent again by staff after an unknown outcome"  # stored in English, as every reason
        again = {"state": D.QUEUED, "attempts": 0, "error_code": "", "next_attempt_at": None}
        look_up_first = {"state": D.RETRY, "attempts": 1, "error_code": "answer", "next_attempt_at": now}
        for channel, chosen in ids.items():
            changes = look_up_first if channel == Delivery.Channel.SMS else again
            unknown.filter(pk__in=chosen).update(  # only rows still "outcome unknown"
                error_reason=reason, claimed_at=None, enqueued_at=now, updated_at=now, **changes
            )
            queue_send_tasks(locked.pk, channel, chosen)
        if ids and locked.state == S.SENT:
            locked.state = S.SENDING
            locked.finished_at = None
            locked.save(update_fields=["state", "finished_at", "updated_at"])
    _refresh(alert, locked)
    return {channel: len(chosen) for channel, chosen in ids.items()}


def _copy_audience(original: Alert, correction: Alert) -> None:
    correction.areas.set(original.areas.all())
    correction.excluded_areas.set(original.excluded_areas.all())


def _correction(original: Alert, msg_type: str, *, by: AbstractBaseUser, title: str) -> Alert:
    correction = Alert.objects.create(
        title=title[:200],
        state=S.DRAFT,
        is_test=original.is_test,
        msg_type=msg_type,
        references=original,
        send_sms=original.send_sms,
        send_email=original.send_email,
        center_latitude=original.center_latitude,
        center_longitude=original.center_longitude,
        radius_km=original.radius_km,
        center_name=original.center_name,
        center_region=original.center_region,
        advisory_level=original.advisory_level,
        fallback_language=original.fallback_language,
        category=original.category,
        urgency=original.urgency,
        severity=original.severity,
        certainty=original.certainty,
        response_type=Alert.ResponseType.NONE if msg_type == Alert.MsgType.CANCEL else original.response_type,
        created_by=by,
    )
    _copy_audience(original, correction)
    return correction


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def prepare_cancellation(alert: Alert | int, *, by: AbstractBaseUser) -> Alert:
    """The ready cancellation of ``alert``: a DRAFT with msgType Cancel referencing it.

    Texts in every language the original has; its audience is the original's areas
    plus everyone the original was handed to. Sending it is the usual submit and
    approve. Returns the existing draft when one is ready already.
    """
    original = alert if isinstance(alert, Alert) else Alert.objects.get(pk=alert)
    existing = original.corrections.filter(msg_type=Alert.MsgType.CANCEL, state=S.DRAFT).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        cancellation = _correction(original, Alert.MsgType.CANCEL, by=by, title=f"Cancelled: {original.title}")
        texts = []
        for language in original.texts.values_list("language", flat=True):
            with translation.override(language):
                title = _escape(original.title)
                sms = gettext('CANCELLED: please disregard our alert "%(title)s". We will write again if needed.') % {
                    "title": title
                }
                subject = gettext("Cancelled: %(title)s") % {"title": title}
                body = gettext(
                    'Dear {name},\n\nplease disregard our alert "%(title)s": it has been cancelled. '
                    "We will write again if anything changes.\n\n{checkin_link}"
                ) % {"title": title}
            texts.append(
                AlertText(alert=cancellation, language=language, sms_text=sms, email_subject=subject, email_body=body)
            )
        AlertText.objects.bulk_create(texts)
    return cancellation


def draft_update(alert: Alert | int, *, by: AbstractBaseUser) -> Alert:
    """A DRAFT with msgType Update referencing ``alert``, its texts copied for editing."""
    original = alert if isinstance(alert, Alert) else Alert.objects.get(pk=alert)
    with transaction.atomic():
        update = _correction(original, Alert.MsgType.UPDATE, by=by, title=f"Update: {original.title}")
        AlertText.objects.bulk_create(
            [
                AlertText(
                    alert=update,
                    language=t.language,
                    sms_text=t.sms_text,
                    email_subject=t.email_subject,
                    email_body=t.email_body,
                )
                for t in original.texts.all()
            ]
        )
    return update


def start_due_alerts(now: datetime.datetime | None = None) -> list[int]:
    """Queue the fan-out of every approved alert whose time has come; returns their ids.

    Run every few seconds by beat (``ALERT_START_DUE_EVERY_SECONDS``): scheduled alerts
    wait in the database, not in long Celery countdowns. One whose ``expires_at`` passed
    before it started is not queued: it ends ABORTED with nothing sent
    (``fanout.end_expired_before_start``).
    """
    from alerts.services.fanout import end_expired_before_start
    from alerts.tasks import start_fan_out as start_fan_out_task

    now = now or timezone.now()
    end_expired_before_start(now)
    due = list(
        Alert.objects.filter(state=S.SCHEDULED)
        .filter(Q(send_at__isnull=True) | Q(send_at__lte=now))
        .order_by("send_at", "pk")
        .values_list("pk", flat=True)
    )
    for alert_id in due:
        transaction.on_commit(lambda alert_id=alert_id: start_fan_out_task.delay(alert_id))
    return due


__all__ = [
    "abort_alert",
    "approve_alert",
    "cancel_alert",
    "content_problems",
    "draft_update",
    "is_urgent",
    "can_resend_outcome_unknown",
    "prepare_cancellation",
    "resend_outcome_unknown",
    "return_to_draft",
    "start_due_alerts",
    "submit_for_approval",
]
