"""An approved alert's CAP 1.2 document, downloaded from its console page."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from alerts.console.permissions import console_view
from alerts.models import Alert
from alerts.services.cap import can_export, cap_xml


@console_view()
def alert_cap(request: HttpRequest, alert_id: int) -> HttpResponse:
    """The alert as CAP 1.2 XML (``application/cap+xml``), as a file to save.

    Whoever may view the alert may download it. 404 until the alert is approved
    (drafts, alerts awaiting approval and withdrawn ones have no CAP document). A test
    alert's document says status Test.
    """
    alert = get_object_or_404(Alert.objects.select_related("references"), pk=alert_id)
    if not can_export(alert):
        raise Http404("This alert has not been approved: it has no CAP document.")
    response = HttpResponse(cap_xml(alert), content_type="application/cap+xml; charset=utf-8")
    kind = "test-alert" if alert.is_test else "alert"
    response["Content-Disposition"] = f'attachment; filename="cap-{kind}-{alert.pk}.xml"'
    return response
