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


@override_settings(REGISTRATION_RATE_PER_CLIENT=(2, 3600), TRUST_FORWARDED_HEADERS=True, TRUSTED_PROXY_COUNT=1)
def test_behind_the_proxy_a_client_cannot_escape_its_limit_by_writing_x_forwarded_for(client):
    # The proxy appends the address it saw; what the client wrote comes before it. A new
    # made-up left-most entry per request must not buy a new limit.
    def post(i: int, written: str) -> int:
        form = valid_form(**{"contact-phone": f"+93 70 123 46{i:02d}", "contact-email": ""})
        return client.post(
            "/", form, HTTP_X_FORWARDED_FOR=f"{written}, 203.0.113.7", REMOTE_ADDR="10.0.0.2"
        ).status_code

    assert [post(i, f"198.51.100.{i}") for i in range(3)] == [302, 302, 429]
    # Another client behind the same proxy has a limit of its own.
    other = client.post(
        "/",
        valid_form(**{"contact-phone": "+93 70 123 4699", "contact-email": ""}),
        HTTP_X_FORWARDED_FOR="203.0.113.8",
        REMOTE_ADDR="10.0.0.2",
    )
    assert other.status_code == 302
