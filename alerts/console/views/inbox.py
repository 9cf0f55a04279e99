"""Messages from citizens that were not a keyword: kept for staff to read and deal with."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from alerts.console.audit import record_audit
from alerts.console.permissions import Capability, console_view
from alerts.models import InboundMessage

PAGE_SIZE = 50


@console_view()
def inbox(request: HttpRequest) -> HttpResponse:
    """Unhandled messages first (newest first); ``?show=all`` includes handled ones and
    messages from unknown numbers."""
    show = request.GET.get("show", "open")
    rows = InboundMessage.objects.filter(kind=InboundMessage.Kind.OTHER).select_related("citizen")
    if show != "all":
        rows = rows.filter(handled_at__isnull=True)
    rows = rows.prefetch_related("citizen__presences").order_by("-received_at", "-pk")
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    open_count = InboundMessage.objects.filter(kind=InboundMessage.Kind.OTHER, handled_at__isnull=True).count()
    return render(request, "alerts/console/inbox.html", {"page": page, "show": show, "open_count": open_count})


@require_POST
@console_view(Capability.COMPOSE)
def inbox_handled(request: HttpRequest, message_id: int) -> HttpResponse:
    with transaction.atomic():
        message = get_object_or_404(InboundMessage.objects.select_for_update(), pk=message_id)
        if message.handled_at is None:
            message.handled_at = timezone.now()
            message.save(update_fields=["handled_at"])
            record_audit(request.user, "inbox_handled", message, {"handled": False}, {"handled": True})
    messages.success(request, _("Marked as dealt with."))
    return redirect("console:inbox")
