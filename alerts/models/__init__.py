"""The alerts app's models, one module per idea."""

from .alerts import Alert, AlertTemplate, AlertText
from .areas import Area, LevelChange
from .audit import AuditEntry
from .deliveries import ChannelPause, DatabaseIdentity, Delivery
from .messaging import CheckIn, InboundFetchCursor, InboundMessage, OutboxMessage, WebhookEvent
from .recipients import StaffTestRecipient

__all__ = [
    "Alert",
    "AlertTemplate",
    "AlertText",
    "AuditEntry",
    "ChannelPause",
    "Area",
    "CheckIn",
    "DatabaseIdentity",
    "Delivery",
    "InboundFetchCursor",
    "InboundMessage",
    "LevelChange",
    "OutboxMessage",
    "StaffTestRecipient",
    "WebhookEvent",
]
