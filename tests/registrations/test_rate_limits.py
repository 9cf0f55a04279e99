from __future__ import annotations

import pytest
from django.test import override_settings

from registrations.models import Citizen
from tests.registrations.conftest import last_code, valid_form

pytestmark = pytest.mark.django_db


@override_settings(REGISTRATION_RATE_PER_CLIENT=(3, 3600))
def test_registration_is_limited_per_client(register):
    for i in range(3):
        assert (
            register(valid_form(**{"contact-phone": f"+93 70 123 45{i:02d}", "contact-email": ""})).status_code == 302
        )
    response = register(valid_form(**{"contact-phone": "+93 70 123 4599", "contact-email": ""}))
    assert response.status_code == 429
    assert response["Retry-After"] == "3600"
    assert Citizen.objects.count() == 3


@override_settings(REGISTRATION_RATE_PER_ADDRESS=(2, 3600))
def test_registration_is_limited_per_address(client, register):
    for _ in range(2):
        assert register(valid_form()).status_code == 302
    other_client = client.__class__(REMOTE_ADDR="10.9.9.9")
    response = other_client.post("/", valid_form())
    assert response.status_code == 429


@override_settings(CODE_ATTEMPT_RATE_PER_CLIENT=(3, 3600), VERIFICATION_MAX_ATTEMPTS=50)
def test_code_attempts_are_limited(client, register):
    pending = register(valid_form())["Location"]
    right = last_code("+93701234567")
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(3):
        assert client.post(pending, {"code": wrong, "action": "verify"}).status_code == 400
    assert client.post(pending, {"code": right, "action": "verify"}).status_code == 429
    assert Citizen.objects.get().phone_verified_at is None
