from __future__ import annotations

from django.urls import path

from alerts.views import outbox

urlpatterns = [
    path("dev/outbox/", outbox.outbox_list, name="dev-outbox"),
]
