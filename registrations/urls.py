from __future__ import annotations

from django.urls import path

from registrations import views

app_name = "registrations"

urlpatterns = [
    path("", views.register, name="register"),
]
