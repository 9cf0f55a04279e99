from __future__ import annotations

from django.urls import path

from registrations import views

app_name = "registrations"

urlpatterns = [
    path("", views.register, name="register"),
    path("verify/<str:token>/", views.pending, name="pending"),
    path("verify-email/<str:token>/", views.verify_email, name="verify-email"),
    path("registered/", views.registered, name="registered"),
    path("regions/<str:country>/", views.regions, name="regions"),
    path("manage/", views.manage_request, name="manage-request"),
    path("manage/<str:token>/", views.manage, name="manage"),
    path("manage/<str:token>/trips/new/", views.presence_edit, name="presence-add"),
    path("manage/<str:token>/trips/<int:presence_id>/", views.presence_edit, name="presence-edit"),
    path("manage/<str:token>/trips/<int:presence_id>/end/", views.presence_end, name="presence-end"),
    path("manage/<str:token>/delete/", views.delete, name="delete"),
]
