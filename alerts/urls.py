from __future__ import annotations

from django.urls import include, path

from alerts.views import outbox

urlpatterns = [
    path("dev/outbox/", outbox.outbox_list, name="dev-outbox"),
    path("", include("alerts.webhooks.urls", namespace="hooks")),
    path("", include("alerts.citizen_links.urls", namespace="links")),
    path("console/", include("alerts.console.urls", namespace="console")),
]
