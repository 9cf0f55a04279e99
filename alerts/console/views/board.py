"""The accountability board of one Area: who is there, and who has answered what."""

from __future__ import annotations

import csv
import datetime

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from alerts.console.audit import record_audit
from alerts.console.permissions import Capability, can, console_view
from alerts.console.queries import (
    NO_ANSWER,
    STATUS_KEYS,
    areas_with_levels,
    board_tally,
    citizens_in,
    filter_by_status,
)
from alerts.levels import level_name
from alerts.models import Area, CheckIn

# Lists whose people have asked for help: the page and the export show how to reach them.
CONTACT_LISTS = frozenset({CheckIn.Status.NEEDS_ASSISTANCE.value})
PAGE_SIZE = 200


def status_label(key: str) -> str:
    labels = {
        CheckIn.Status.SAFE.value: _("Safe"),
        CheckIn.Status.NEEDS_ASSISTANCE.value: _("Need assistance"),
        CheckIn.Status.DEPARTED.value: _("Departed"),
        NO_ANSWER: _("No answer"),
    }
    return labels.get(key, key)


def _since(request: HttpRequest) -> datetime.datetime | None:
    """Only count check-ins made on or after ``?since=YYYY-MM-DD`` (all when absent)."""
    day = parse_date(request.GET.get("since", "") or "")
    if day is None:
        return None
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


@console_view()
def board(request: HttpRequest, area_id: int) -> HttpResponse:
    area = get_object_or_404(areas_with_levels(), pk=area_id)
    since = _since(request)
    tally = board_tally(area, since)
    selected = request.GET.get("list", "")
    page = None
    if selected in STATUS_KEYS or selected == "all":
        people = citizens_in(area, since)
        if selected != "all":
            people = filter_by_status(people, selected)
        page = Paginator(people, PAGE_SIZE).get_page(request.GET.get("page"))
        for citizen in page.object_list:
            citizen.status_text = status_label(citizen.status or NO_ANSWER)
    rows = [{"key": key, "label": status_label(key), "citizens": c, "people": p} for key, c, p in tally.rows]
    return render(
        request,
        "alerts/console/board.html",
        {
            "area": area,
            "level_name": level_name(area.effective),
            "tally": tally,
            "rows": rows,
            "since": since,
            "since_param": request.GET.get("since", "") if since else "",
            "selected": selected,
            "selected_label": status_label(selected) if selected != "all" else _("Everyone present"),
            "page": page,
            "show_contacts": selected in CONTACT_LISTS,
            "can_export": can(request.user, Capability.EXPORT),
            "can_change_level": can(request.user, Capability.CHANGE_LEVEL),
            "can_follow_up": can(request.user, Capability.COMPOSE) and tally.citizens_with(NO_ANSWER) > 0,
            "no_answer_count": tally.people_with(NO_ANSWER),
        },
    )


def _csv_cell(value: object) -> str:
    """A cell a spreadsheet will not run as a formula (names and texts come from the public)."""
    text = "" if value is None else str(value)
    if text and text[0] in "=+-@\t\r":
        return "'" + text
    return text


def _phone_cell(value: str) -> str:
    """E.164 numbers start with "+" and are digits only: safe as they are."""
    if value and value[0] == "+" and value[1:].isdigit():
        return value
    return _csv_cell(value)


@console_view(Capability.EXPORT)
def board_csv(request: HttpRequest, area_id: int) -> HttpResponse:
    area = get_object_or_404(areas_with_levels(), pk=area_id)
    since = _since(request)
    selected = request.GET.get("list", "all")
    people = citizens_in(area, since)
    if selected in STATUS_KEYS:
        people = filter_by_status(people, selected)
    else:
        selected = "all"
    filename = f"board-area-{area.pk}-{selected}-{timezone.localtime():%Y%m%d-%H%M}.csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.write("\ufeff")  # so spreadsheet programs read UTF-8 names (Dari, Arabic) correctly
    writer = csv.writer(response)
    writer.writerow(
        [
            "citizen_id",
            "full_name",
            "status",
            "checked_in_at",
            "household_size",
            "city",
            "phone",
            "email",
            "emergency_contact_name",
            "emergency_contact_phone",
            "emergency_contact_email",
        ]
    )
    count = 0
    for citizen in people.iterator(chunk_size=2000):
        status = citizen.status or NO_ANSWER
        contacts = status in CONTACT_LISTS
        writer.writerow(
            [
                citizen.pk,
                _csv_cell(citizen.full_name),
                status,
                # In the post's zone, with its offset ("2021-08-15T18:00:00+04:30").
                timezone.localtime(citizen.checked_in_at).isoformat() if citizen.checked_in_at else "",
                citizen.household_size,
                _csv_cell(citizen.city),
                _phone_cell(citizen.phone) if contacts else "",
                _csv_cell(citizen.email) if contacts else "",
                _csv_cell(citizen.emergency_contact_name) if contacts else "",
                _phone_cell(citizen.emergency_contact_phone) if contacts else "",
                _csv_cell(citizen.emergency_contact_email) if contacts else "",
            ]
        )
        count += 1
    record_audit(
        request.user,
        "export_board_csv",
        area,
        None,
        {"list": selected, "rows": count, "since": since},
    )
    return response


@require_POST
@console_view(Capability.COMPOSE)
def follow_up(request: HttpRequest, area_id: int) -> HttpResponse:
    """Draft an alert to everyone in the area who has not answered (since the board's date)."""
    from alerts.services.followups import draft_follow_up

    area = get_object_or_404(Area, pk=area_id)
    since = _since(request)
    with transaction.atomic():
        alert = draft_follow_up(area, by=request.user, since=since)
        record_audit(request.user, "draft_follow_up", alert, None, {"area": area.pk, "since": since})
    messages.success(request, _("A follow-up to the people who have not answered is drafted. Check it and submit it."))
    return redirect("console:alert", alert_id=alert.pk)
