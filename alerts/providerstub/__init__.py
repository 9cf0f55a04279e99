"""A loopback stand-in for Twilio (SMS) and SendGrid (email) that their SDKs cannot tell apart.

``ProviderStub`` serves both APIs on one port with configurable latency, failure
injection, a record of everything received, signed status callbacks and event
webhooks, and a control API under ``/_stub/``. ``manage.py provider_stub`` runs it in the
foreground; the test session runs one in a background thread
(``tests/fixtures/provider_stub.py``).
"""

from alerts.providerstub.server import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_SENDGRID_KEY,
    ProviderStub,
)
from alerts.providerstub.state import FailureRule, StubConfig

__all__ = [
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "DEFAULT_SENDGRID_KEY",
    "FailureRule",
    "ProviderStub",
    "StubConfig",
]
