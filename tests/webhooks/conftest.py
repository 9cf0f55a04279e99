from __future__ import annotations

import pytest

from tests.webhooks.helpers import TWILIO_TOKEN, SendGridSigner


@pytest.fixture(autouse=True)
def _twilio_token(settings) -> None:
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN
    settings.TRUST_FORWARDED_HEADERS = False


@pytest.fixture
def sendgrid(settings) -> SendGridSigner:
    """A SendGrid stand-in whose public key the site is configured with."""
    signer = SendGridSigner()
    settings.SENDGRID_WEBHOOK_PUBLIC_KEY = signer.public_key
    settings.SENDGRID_WEBHOOK_MAX_AGE_SECONDS = 600
    return signer
