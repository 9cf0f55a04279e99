from __future__ import annotations

from django.urls import path

from alerts.citizen_links import views

app_name = "links"

urlpatterns = [
    path("u/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("checkin/<str:token>/", views.check_in, name="check-in"),
    path("checkin/<str:token>/<slug:answer>/", views.check_in, name="check-in-status"),
]
