from __future__ import annotations

import pytest

from tests.webhooks.helpers import TWILIO_TOKEN


@pytest.fixture(autouse=True)
def _twilio_token(settings) -> None:
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN
    settings.TRUST_FORWARDED_HEADERS = False
