"""Webhook routes, at exactly the paths the settings name (providers are configured with them)."""

from __future__ import annotations

from django.conf import settings
from django.urls import path

from alerts.webhooks import views

app_name = "hooks"


def _route(setting_path: str) -> str:
    return setting_path.lstrip("/")


urlpatterns = [
    path(_route(settings.TWILIO_STATUS_CALLBACK_PATH), views.twilio_status, name="twilio-status"),
    path(_route(settings.TWILIO_INBOUND_PATH), views.twilio_inbound, name="twilio-inbound"),
    path(_route(settings.SENDGRID_EVENTS_PATH), views.sendgrid_events, name="sendgrid-events"),
]
