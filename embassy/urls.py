"""Top-level routes. Each app keeps its own urls module."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from embassy.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("alerts.urls")),
    path("", include("registrations.urls")),
]
