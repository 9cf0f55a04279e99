"""Alert pages: change a level, compose, submit, approve, watch progress, abort, correct.

Each state change calls one service in ``alerts.services`` and records an audit entry in
the same transaction; a refused change (``AlertError``) shows its message and saves nothing.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import dateformat, timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from alerts.console import compose
from alerts.console.audit import record_audit, snapshot
from alerts.console.forms import AlertForm, AlertTextForm, ApproveForm, LevelChangeForm
from alerts.console.permissions import Capability, approve_refusal_reason, can, can_approve, console_view
from alerts.console.queries import areas_with_levels
from alerts.errors import AlertError, AlertStateError
from alerts.levels import level_name
from alerts.models import Alert, AlertTemplate, AlertText, Area, Delivery
from alerts.services.failures import Reason, not_sent_reasons

S = Alert.State
EDITABLE = (S.DRAFT, S.AWAITING_APPROVAL)
#: What an alert's audit entries record: every field staff edit on the compose form
#: (its areas are added by ``_alert_state``), so a field added to the form is audited
#: with it (urgency and severity, which decide whether unverified contacts may be
#: included, and the expiry once were not), and the fields the workflow sets.
ALERT_FIELDS = [name for name in AlertForm.Meta.fields if name not in ("areas", "excluded_areas")] + [
    "state",
    "msg_type",
    "references",
    "include_unverified",
    "send_at",
    "approved_by",
    "aborted_by",
]


def _alert_state(alert: Alert) -> dict[str, Any]:
    data = snapshot(alert, ALERT_FIELDS) or {}
    data["areas"] = sorted(alert.areas.values_list("pk", flat=True)) if alert.pk else []
    data["excluded_areas"] = sorted(alert.excluded_areas.values_list("pk", flat=True)) if alert.pk else []
    data["texts"] = {
        t.language: {"sms_text": t.sms_text, "email_subject": t.email_subject, "email_body": t.email_body}
        for t in (alert.texts.all() if alert.pk else [])
    }
    return data


# --- level change -----------------------------------------------------------------------


@console_view(Capability.CHANGE_LEVEL)
def change_level(request: HttpRequest, area_id: int) -> HttpResponse:
    area = get_object_or_404(areas_with_levels(), pk=area_id)
    form = LevelChangeForm(request.POST or None, area=area)
    if request.method == "POST" and form.is_valid():
        from alerts.services.areas import change_advisory_level

        try:
            with transaction.atomic():
                before = {"level": area.level, "effective": area.effective}
                change = change_advisory_level(
                    area, form.new_level(), by=request.user, reason=form.cleaned_data["reason"]
                )
                record_audit(
                    request.user,
                    "change_level",
                    area,
                    before,
                    {
                        "level": change.new_level,
                        "reason": change.reason,
                        "level_change": change.pk,
                        "drafted_alert": change.drafted_alert_id,
                        "drafted_alert_excluded_areas": (
                            sorted(change.drafted_alert.excluded_areas.values_list("pk", flat=True))
                            if change.drafted_alert_id
                            else []
                        ),
                    },
                )
        except AlertError as error:
            form.add_error(None, str(error))
        else:
            if change.drafted_alert_id:
                messages.success(
                    request, _("Level changed. Check the drafted alert below, then it waits for approval.")
                )
                return redirect("console:alert", change.drafted_alert_id)
            messages.warning(
                request, _("Level changed. No template exists for this level, so no alert was drafted: compose one.")
            )
            # The compose page leaves out the country's regions with a level of their own,
            # as a drafted alert would.
            own_levels = "&exclude=own-levels" if area.is_country else ""
            return redirect(reverse("console:alert-new") + f"?area={area.pk}{own_levels}")
    return render(
        request,
        "alerts/console/change_level.html",
        {"area": area, "form": form, "level_name": level_name(area.effective)},
    )


# --- compose ----------------------------------------------------------------------------


def _text_forms(request: HttpRequest, alert: Alert | None, initial: dict[str, dict[str, str]] | None = None):  # type: ignore[no-untyped-def]
    existing = {t.language: t for t in alert.texts.all()} if alert and alert.pk else {}
    forms_ = []
    for code, label in settings.ALERT_LANGUAGES:
        start = initial.get(code) if initial else None
        if start is None and code in existing:
            t = existing[code]
            start = {"sms_text": t.sms_text, "email_subject": t.email_subject, "email_body": t.email_body}
        forms_.append(
            AlertTextForm(
                request.POST if request.method == "POST" else None,
                language=code,
                language_label=label,
                initial=start or {},
            )
        )
    return forms_


def _save_texts(alert: Alert, text_forms: list[AlertTextForm]) -> None:
    for form in text_forms:
        if form.is_empty():
            AlertText.objects.filter(alert=alert, language=form.language).delete()
        else:
            AlertText.objects.update_or_create(
                alert=alert,
                language=form.language,
                defaults={
                    "sms_text": form.cleaned_data["sms_text"],
                    "email_subject": form.cleaned_data["email_subject"],
                    "email_body": form.cleaned_data["email_body"],
                },
            )


def _unsaved_texts(alert: Alert, text_forms: list[AlertTextForm]) -> list[AlertText]:
    """The texts as typed (for previews of a form that did not save)."""
    texts = []
    for form in text_forms:
        data = form.cleaned_data if form.is_bound and hasattr(form, "cleaned_data") else form.initial
        if any((data.get(f) or "").strip() for f in ("sms_text", "email_subject", "email_body")):
            texts.append(
                AlertText(
                    alert=alert if alert.pk else None,
                    language=form.language,
                    sms_text=data.get("sms_text", ""),
                    email_subject=data.get("email_subject", ""),
                    email_body=data.get("email_body", ""),
                )
            )
    return texts


def _template_initial(level: int, area: Area | None) -> dict[str, dict[str, str]]:
    from alerts.services.rendering import fill_alert_placeholders

    def values(language: str) -> dict[str, str]:
        # Each language's text gets the level's words in that language (as the level
        # change's draft does), not in the language of the staff member's page.
        with translation.override(language):
            filled = {"level": str(level), "level_name": level_name(level)}
        if area is not None:
            filled["area"] = area.name
        return filled

    return {
        t.language: {
            "sms_text": fill_alert_placeholders(t.sms_text, values(t.language)),
            "email_subject": fill_alert_placeholders(t.email_subject, values(t.language)),
            "email_body": fill_alert_placeholders(t.email_body, values(t.language)),
        }
        for t in AlertTemplate.objects.filter(level=level)
    }


@console_view(Capability.COMPOSE)
def alert_new(request: HttpRequest) -> HttpResponse:
    """A new draft, blank or from a level's templates (``?template=<level>&area=<id>``).

    With ``&exclude=own-levels`` (after a country's level change) the country's regions
    with a level of their own start among the excluded areas.
    """
    area = Area.objects.filter(pk=request.GET.get("area") or 0).first()
    level = request.GET.get("template", "")
    initial_texts = _template_initial(int(level), area) if level.isdigit() else None
    alert = Alert(created_by=request.user, is_test=True)
    if level.isdigit():
        alert.advisory_level = int(level)
    initial: dict[str, Any] = {"areas": [area.pk] if area else []}
    if area is not None and area.is_country and request.GET.get("exclude") == "own-levels":
        from alerts.services.areas import regions_with_their_own_level

        announced = alert.advisory_level or area.level or 1
        initial["excluded_areas"] = [r.pk for r in regions_with_their_own_level(area, announced)]
    form = AlertForm(request.POST or None, instance=alert, initial=initial)
    text_forms = _text_forms(request, None, initial_texts)
    if request.method == "POST" and form.is_valid() and all(f.is_valid() for f in text_forms):
        with transaction.atomic():
            alert = form.save(commit=False)
            alert.created_by = request.user
            alert.state = S.DRAFT
            alert.save()
            form.save_m2m()
            _save_texts(alert, text_forms)
            record_audit(request.user, "create_alert", alert, None, _alert_state(alert))
        messages.success(request, _("Draft saved."))
        return redirect("console:alert", alert.pk)
    return render(
        request,
        "alerts/console/alert_new.html",
        {
            "form": form,
            "text_forms": text_forms,
            "alert": alert,
            "levels": [(n, level_name(n)) for n in sorted(settings.ADVISORY_LEVELS)],
            "area": area,
            "template_level": level,
            "exclude_own_levels": request.GET.get("exclude") == "own-levels",
        },
    )


def _detail_context(request: HttpRequest, alert: Alert, form: AlertForm | None, text_forms: list) -> dict[str, Any]:  # type: ignore[type-arg]
    from alerts.services.alerts import content_problems, is_urgent
    from alerts.services.audience import compute_audience

    editing = form is not None and form.is_bound
    texts = _unsaved_texts(alert, text_forms) if editing else list(alert.texts.order_by("language"))
    cleaned = form.cleaned_data if editing and hasattr(form, "cleaned_data") else None
    areas = list(cleaned.get("areas") or []) if cleaned is not None else None
    excluded = list(cleaned.get("excluded_areas") or []) if cleaned is not None else None
    sms, email = compose.previews(alert, texts)
    audience = compute_audience(alert, save=False)
    addresses = audience.get("addresses") or {}
    return {
        "alert": alert,
        "form": form,
        "text_forms": text_forms,
        "sms_previews": sms,
        "email_previews": email,
        "estimated_segments": compose.estimated_sms_segments(alert, sms),
        "audience": audience,
        "sms_addresses": addresses.get("sms", 0),
        "email_addresses": addresses.get("email", 0),
        "contradictions": compose.contradictions(alert, texts, areas, excluded),
        "problems": content_problems(alert) if alert.state in EDITABLE else [],
        "editable": alert.state in EDITABLE and can(request.user, Capability.COMPOSE),
        "can_approve": alert.state == S.AWAITING_APPROVAL and can_approve(request.user, alert),
        "approve_refusal": approve_refusal_reason(request.user, alert) if alert.state == S.AWAITING_APPROVAL else "",
        "approve_form": ApproveForm(),
        "urgent": is_urgent(alert),
        "can_abort": alert.state in (S.SCHEDULED, S.SENDING) and can(request.user, Capability.ABORT),
        "can_correct": (
            not alert.is_test
            and alert.msg_type != Alert.MsgType.CANCEL
            and alert.state in (S.SCHEDULED, S.SENDING, S.SENT)
            and can(request.user, Capability.COMPOSE)
        ),
        "corrections": list(alert.corrections.order_by("-created_at")),
        "ready_cancellations": list(
            alert.corrections.filter(msg_type=Alert.MsgType.CANCEL, state=S.DRAFT).order_by("pk")
        ),
        "is_ready_cancellation": (
            alert.msg_type == Alert.MsgType.CANCEL and alert.state == S.DRAFT and bool(alert.references_id)
        ),
        "area_names": compose.describe_areas(alert),
        "excluded_names": ", ".join(a.name for a in alert.excluded_areas.all()),
        "languages": dict(settings.ALERT_LANGUAGES),
        "expiry_outcome": compose.expiry_outcome(alert),
    }


@console_view()
def alert_detail(request: HttpRequest, alert_id: int) -> HttpResponse:
    """The alert: settings, texts per language, previews, audience, and the next step."""
    from alerts.services.alerts import return_to_draft, submit_for_approval

    alert = get_object_or_404(Alert.objects.select_related("created_by", "approved_by", "references"), pk=alert_id)
    editable = alert.state in EDITABLE and can(request.user, Capability.COMPOSE)
    form = AlertForm(request.POST or None, instance=alert) if editable else None
    text_forms = _text_forms(request, alert) if editable else []
    if request.method == "POST":
        if not editable:
            raise PermissionDenied
        action = request.POST.get("action", "save")
        before = _alert_state(alert)  # before validation copies the edits onto the instance
        if form.is_valid() and all(f.is_valid() for f in text_forms):
            try:
                with transaction.atomic():
                    # The form saves every field of the instance: make sure nobody moved
                    # the alert on since this page loaded (e.g. approved it).
                    current = Alert.objects.select_for_update().only("state").get(pk=alert.pk).state
                    if current != before["state"]:
                        raise AlertStateError(_("Someone changed this alert meanwhile; reload and check it again."))
                    if current == S.AWAITING_APPROVAL:
                        # By id: the service must not refresh the instance holding the edits.
                        alert.state = return_to_draft(alert.pk, by=request.user).state
                    alert = form.save()
                    _save_texts(alert, text_forms)
                    record_audit(request.user, "edit_alert", alert, before, _alert_state(alert))
                    if action == "submit":
                        submit_for_approval(alert, by=request.user)
                        record_audit(request.user, "submit_alert", alert, {"state": S.DRAFT}, {"state": alert.state})
            except AlertError as error:
                alert.refresh_from_db()
                messages.error(request, str(error))
            else:
                messages.success(
                    request, _("Submitted for approval.") if action == "submit" else _("Saved as a draft.")
                )
                return redirect("console:alert", alert.pk)
    context = _detail_context(request, alert, form, text_forms)
    return render(request, "alerts/console/alert_detail.html", context)


@require_POST
@console_view(Capability.COMPOSE)
def alert_withdraw(request: HttpRequest, alert_id: int) -> HttpResponse:
    """Withdraw a draft or an alert awaiting approval (nothing was sent)."""
    from alerts.services.alerts import cancel_alert

    alert = get_object_or_404(Alert, pk=alert_id)
    return _transition(request, alert, "withdraw_alert", lambda: cancel_alert(alert, by=request.user))


@require_POST
@console_view(Capability.APPROVE)
def alert_return(request: HttpRequest, alert_id: int) -> HttpResponse:
    """An approver sends an alert back to its author for changes."""
    from alerts.services.alerts import return_to_draft

    alert = get_object_or_404(Alert, pk=alert_id)
    return _transition(request, alert, "return_alert", lambda: return_to_draft(alert, by=request.user))


def _transition(
    request: HttpRequest, alert: Alert, action: str, move: Any, target: str = "console:alert"
) -> HttpResponse:
    before = {"state": alert.state}
    try:
        with transaction.atomic():
            move()
            alert.refresh_from_db()
            record_audit(request.user, action, alert, before, {"state": alert.state})
    except AlertError as error:
        messages.error(request, str(error))
    return redirect(target, alert.pk)


# --- approval ---------------------------------------------------------------------------


@console_view(Capability.APPROVE)
def approvals(request: HttpRequest) -> HttpResponse:
    waiting = (
        Alert.objects.filter(state=S.AWAITING_APPROVAL)
        .select_related("created_by")
        .prefetch_related("areas", "excluded_areas")
        .order_by("is_test", "submitted_at", "pk")  # live first, oldest first
    )
    rows = [
        {"alert": a, "mine": a.created_by_id == request.user.pk, "can_approve": can_approve(request.user, a)}
        for a in waiting
    ]
    return render(request, "alerts/console/approvals.html", {"rows": rows})


@require_POST
@console_view(Capability.APPROVE)
def alert_approve(request: HttpRequest, alert_id: int) -> HttpResponse:
    from alerts.services.alerts import approve_alert

    alert = get_object_or_404(Alert, pk=alert_id)
    if not can_approve(request.user, alert):
        messages.error(request, approve_refusal_reason(request.user, alert))
        return redirect("console:alert", alert.pk)
    form = ApproveForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Tick the confirmation to approve."))
        return redirect("console:alert", alert.pk)
    before = {"state": alert.state, "audience": alert.audience_summary}
    try:
        with transaction.atomic():
            approve_alert(alert, by=request.user, include_unverified=form.cleaned_data["include_unverified"])
            record_audit(
                request.user,
                "approve_alert",
                alert,
                before,
                {
                    "state": alert.state,
                    "is_test": alert.is_test,
                    "include_unverified": alert.include_unverified,
                    "audience": alert.audience_summary,
                },
            )
    except AlertError as error:
        messages.error(request, str(error))
        return redirect("console:alert", alert.pk)
    messages.success(request, _("Approved. Sending starts now."))
    return redirect("console:alert-progress", alert.pk)


# --- progress, abort, corrections -----------------------------------------------------


def _progress_data(alert: Alert) -> dict[str, Any]:
    from alerts.services.progress import alert_progress

    progress = alert_progress(alert)
    totals: dict[str, int] = progress["totals"]  # type: ignore[assignment]
    finished = totals["sent"] + totals["delivered"] + totals["failed"] + totals["skipped"]
    addresses = (alert.audience_summary or {}).get("addresses") or {}
    expected = progress["total"]
    if not alert.fanout_done_at:  # deliveries are still being created
        expected = max(int(progress["total"]), sum(int(v) for v in addresses.values()))
    percent = 100 if expected == 0 and progress["done"] and alert.state == S.SENT else 0
    if expected:
        percent = int(100 * finished / expected)
    state_label = str(S(alert.state).label)
    # As the page shows it: in the console's zone (the middleware turns on the post's).
    finished_at = alert.finished_at
    return {
        **progress,
        "finished": finished,
        "expected": expected,
        "percent": percent,
        "state_label": state_label,
        "finished_at": dateformat.format(timezone.localtime(finished_at), "Y-m-d H:i") if finished_at else None,
        "finished_at_iso": timezone.localtime(finished_at).isoformat() if finished_at else None,
    }


@console_view()
def alert_progress_page(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = get_object_or_404(Alert.objects.select_related("created_by", "approved_by"), pk=alert_id)
    from alerts.services.alerts import can_resend_outcome_unknown

    data = _progress_data(alert)
    not_sent = not_sent_reasons(alert)
    unknown = _outcome_unknown(not_sent)
    return render(
        request,
        "alerts/console/progress.html",
        {
            "alert": alert,
            "progress": data,
            "buckets": ["queued", "sending", "sent", "delivered", "failed", "skipped"],
            "can_abort": alert.state in (S.SCHEDULED, S.SENDING) and can(request.user, Capability.ABORT),
            "running": alert.state in (S.SCHEDULED, S.SENDING),
            "outcome_unknown": unknown,
            "can_resend_unknown": bool(unknown)
            and can_resend_outcome_unknown(alert)
            and can_approve(request.user, alert),
            "area_names": compose.describe_areas(alert),
            "not_sent": not_sent,
            "expiry_outcome": compose.expiry_outcome(alert),
        },
    )


@console_view()
def alert_progress_json(request: HttpRequest, alert_id: int) -> JsonResponse:
    alert = get_object_or_404(Alert, pk=alert_id)
    response = JsonResponse(_progress_data(alert))
    response["Cache-Control"] = "no-store"
    return response


def _outcome_unknown(not_sent: list[Reason]) -> int:
    """How many deliveries ended "outcome unknown", from the page's not-sent counts."""
    return sum(r.count for r in not_sent if r.state == Delivery.State.FAILED and r.code == "unknown")


@require_POST
@console_view(Capability.APPROVE)
def alert_resend_unknown(request: HttpRequest, alert_id: int) -> HttpResponse:
    """Send again what ended "outcome unknown" (``resend_outcome_unknown``): an approver's
    decision, as it sends messages, and never the author's own live alert (two people, as
    for its approval); recorded in the audit trail."""
    from alerts.services.alerts import resend_outcome_unknown

    alert = get_object_or_404(Alert, pk=alert_id)
    if not can_approve(request.user, alert):
        raise PermissionDenied
    before = {"state": alert.state, "outcome_unknown": _outcome_unknown(not_sent_reasons(alert))}
    try:
        with transaction.atomic():
            again = resend_outcome_unknown(alert, by=request.user)
            record_audit(request.user, "resend_outcome_unknown", alert, before, {"state": alert.state, **again})
    except AlertError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            _(
                "%(email)s emails go again; %(sms)s SMS are looked up at the provider first "
                "and sent only if it does not have them."
            )
            % {"email": again.get("email", 0), "sms": again.get("sms", 0)},
        )
    return redirect("console:alert-progress", alert.pk)


@require_POST
@console_view(Capability.ABORT)
def alert_abort(request: HttpRequest, alert_id: int) -> HttpResponse:
    from alerts.services.alerts import abort_alert

    alert = get_object_or_404(Alert, pk=alert_id)
    before = {"state": alert.state}
    try:
        with transaction.atomic():
            skipped = abort_alert(alert, by=request.user)
            record_audit(request.user, "abort_alert", alert, before, {"state": alert.state, "skipped": skipped})
    except AlertError as error:
        messages.error(request, str(error))
    else:
        messages.warning(
            request, _("Sending stopped. %(n)s messages not yet handed to a provider will not go.") % {"n": skipped}
        )
    return redirect("console:alert-progress", alert.pk)


@require_POST
@console_view(Capability.COMPOSE)
def alert_correct(request: HttpRequest, alert_id: int) -> HttpResponse:
    """One click: the ready cancellation (``kind=cancel``) or an update draft (``kind=update``)."""
    from alerts.services.alerts import draft_update, prepare_cancellation

    alert = get_object_or_404(Alert, pk=alert_id)
    kind = request.POST.get("kind", "cancel")
    try:
        with transaction.atomic():
            correction = (
                draft_update(alert, by=request.user)
                if kind == "update"
                else prepare_cancellation(alert, by=request.user)
            )
            record_audit(
                request.user,
                "prepare_update" if kind == "update" else "prepare_cancellation",
                correction,
                None,
                {"references": alert.pk, "msg_type": correction.msg_type},
            )
    except AlertError as error:
        messages.error(request, str(error))
        return redirect("console:alert", alert.pk)
    return redirect("console:alert", correction.pk)
