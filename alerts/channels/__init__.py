"""Channels: one interface (``base.Channel``), one implementation per provider.

``get_channel("sms")`` / ``get_channel("email")`` return the implementation the settings
choose: ``SMS_BACKEND`` (outbox | twilio) and ``EMAIL_BACKEND_NAME`` (outbox | sendgrid).
"""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from alerts.channels.base import Channel, ChannelError, OutgoingMessage, SendResult

__all__ = ["Channel", "ChannelError", "OutgoingMessage", "SendResult", "get_channel"]

# name in settings -> class implementing it
REGISTRY = {
    ("sms", "outbox"): "alerts.channels.outbox.OutboxChannel",
    ("email", "outbox"): "alerts.channels.outbox.OutboxChannel",
    ("sms", "twilio"): "alerts.channels.twilio.TwilioSMSChannel",
    ("email", "sendgrid"): "alerts.channels.sendgrid.SendGridEmailChannel",
}


def get_channel(kind: str) -> Channel:
    """Return the configured channel for ``kind`` ("sms" or "email")."""
    if kind == "sms":
        name = settings.SMS_BACKEND
    elif kind == "email":
        name = settings.EMAIL_BACKEND_NAME
    else:
        raise ValueError(f"unknown channel kind {kind!r}")
    cls = import_string(REGISTRY[(kind, name)])
    return cls(kind) if name == "outbox" else cls()
