"""Verification codes and links leave through the real SDKs, to the loopback stub."""

from __future__ import annotations

import json
import re

import pytest

from registrations.models import Citizen
from tests.registrations.conftest import valid_form

pytestmark = pytest.mark.django_db


def test_the_code_goes_by_twilio_and_the_link_by_sendgrid_and_both_verify(client, register, stub_providers):
    pending = register(valid_form())["Location"]

    (sms,) = stub_providers.received("sms")
    assert sms["status"] == 201
    assert sms["to"] == ["+93701234567"]
    code = re.search(r"\b(\d{6})\b", sms["body"]).group(1)

    (email,) = stub_providers.received("email")
    assert email["to"] == ["sara@example.org"]
    payload = email["json"] if email["json"] is not None else json.loads(email["body"])
    text = json.dumps(payload)
    link = re.search(r"http://testserver(/verify-email/[^\s\"\\]+)", text).group(1)

    assert client.post(pending, {"code": code, "action": "verify"}).status_code == 302
    assert client.get(link).status_code == 302
    citizen = Citizen.objects.get()
    assert citizen.phone_verified_at and citizen.email_verified_at


def test_a_provider_failure_does_not_lose_the_registration_and_a_new_code_can_be_asked_for(
    client, register, stub_providers, django_capture_on_commit_callbacks
):
    stub_providers.fail_next(1, api="sms", twilio_code=20429, http_status=429)
    response = register(valid_form(**{"contact-email": ""}))
    assert response.status_code == 302  # saved; the person is not shown an error page
    assert Citizen.objects.count() == 1
    assert [r["status"] for r in stub_providers.received("sms")] == [429]

    with django_capture_on_commit_callbacks(execute=True):
        client.post(response["Location"], {"action": "resend"})
    assert [r["status"] for r in stub_providers.received("sms")] == [429, 201]
