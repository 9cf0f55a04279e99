"""The audit trail, readable and filterable by staff."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from alerts.console.audit import shown_in_post_zone
from alerts.console.forms import AuditFilterForm
from alerts.console.permissions import console_view
from alerts.models import AuditEntry

PAGE_SIZE = 100


@console_view()
def audit_list(request: HttpRequest) -> HttpResponse:
    entries = AuditEntry.objects.select_related("actor").order_by("-created_at", "-pk")
    actions = list(AuditEntry.objects.order_by("action").values_list("action", flat=True).distinct())
    object_types = list(AuditEntry.objects.order_by("object_type").values_list("object_type", flat=True).distinct())
    form = AuditFilterForm(request.GET or None, actions=actions, object_types=[t for t in object_types if t])
    if form.is_valid():
        data = form.cleaned_data
        if data["actor"]:
            entries = entries.filter(actor_username__iexact=data["actor"])
        if data["action"]:
            entries = entries.filter(action=data["action"])
        if data["object_type"]:
            entries = entries.filter(object_type=data["object_type"])
        if data["object_id"]:
            entries = entries.filter(object_id=data["object_id"])
        if data["since"]:
            entries = entries.filter(created_at__date__gte=data["since"])
        if data["until"]:
            entries = entries.filter(created_at__date__lte=data["until"])
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    for entry in page:  # stored times in the console's zone; the entries stay as stored
        entry.before_shown = shown_in_post_zone(entry.before)
        entry.after_shown = shown_in_post_zone(entry.after)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "alerts/console/audit.html",
        {"form": form, "page": page, "query": query.urlencode()},
    )
