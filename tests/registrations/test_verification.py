from __future__ import annotations

import datetime

import pytest
from django.test import override_settings
from django.utils import timezone

from alerts.models import OutboxMessage
from registrations.models import Citizen, Verification
from tests.registrations.conftest import last_code, last_link, valid_form

pytestmark = pytest.mark.django_db

PHONE = "+93701234567"
EMAIL = "sara@example.org"


def test_the_sms_code_verifies_the_phone(client, register):
    pending = register(valid_form())["Location"]
    page = client.get(pending)
    assert "+93 … 67" in page.content.decode()  # where the code went, masked
    response = client.post(pending, {"code": last_code(PHONE), "action": "verify"})
    assert response.status_code == 302 and response["Location"] == "/registered/"
    citizen = Citizen.objects.get()
    assert citizen.phone_verified_at is not None
    assert citizen.email_verified_at is None
    assert citizen.phone_reachable and not citizen.email_reachable


def test_the_email_link_verifies_the_email(client, register):
    register(valid_form())
    response = client.get(last_link(EMAIL))
    assert response.status_code == 302
    assert Citizen.objects.get().email_verified_at is not None


def test_a_wrong_code_counts_and_the_limit_locks_the_code(client, register):
    pending = register(valid_form())["Location"]
    right = last_code(PHONE)
    wrong = "000000" if right != "000000" else "111111"
    for _attempt in range(4):
        response = client.post(pending, {"code": wrong, "action": "verify"})
        assert response.status_code == 400
        assert "not right" in response.content.decode()
    response = client.post(pending, {"code": wrong, "action": "verify"})
    assert "Too many wrong codes" in response.content.decode()
    response = client.post(pending, {"code": right, "action": "verify"})
    assert "Too many wrong codes" in response.content.decode()
    assert Citizen.objects.get().phone_verified_at is None
    assert Verification.objects.get(channel="sms").attempts == 5


def test_an_expired_code_does_not_verify(client, register):
    pending = register(valid_form())["Location"]
    Verification.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    response = client.post(pending, {"code": last_code(PHONE), "action": "verify"})
    assert "expired" in response.content.decode()
    assert Citizen.objects.get().phone_verified_at is None


def test_an_expired_email_link_does_not_verify(client, register):
    register(valid_form())
    link = last_link(EMAIL)
    with override_settings(VERIFICATION_CODE_TTL_SECONDS=-1):
        response = client.get(link)
    assert response.status_code == 400
    assert Citizen.objects.get().email_verified_at is None


def test_a_tampered_email_link_does_not_verify(client, register):
    register(valid_form())
    response = client.get(last_link(EMAIL)[:-3] + "abc/")
    assert response.status_code in (400, 404)
    assert Citizen.objects.get().email_verified_at is None


def test_a_new_code_replaces_the_old_one(client, register, django_capture_on_commit_callbacks):
    pending = register(valid_form())["Location"]
    old = last_code(PHONE)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(pending, {"action": "resend"})
    new_page = response["Location"]
    new = last_code(PHONE)
    assert OutboxMessage.objects.filter(channel="sms").count() == 2
    if old != new:
        assert "not right" in client.post(new_page, {"code": old, "action": "verify"}).content.decode()
    client.post(new_page, {"code": new, "action": "verify"})
    assert Citizen.objects.get().phone_verified_at is not None


def test_a_code_with_the_wrong_shape_is_refused_without_counting(client, register):
    pending = register(valid_form())["Location"]
    response = client.post(pending, {"code": "12ab", "action": "verify"})
    assert "6 digits" in response.content.decode()
    assert Verification.objects.get(channel="sms").attempts == 0


def test_registering_again_with_a_verified_phone_updates_the_same_citizen(client, register):
    first = register(valid_form())["Location"]
    client.post(first, {"code": last_code(PHONE), "action": "verify"})
    original = Citizen.objects.get()

    second = register(
        valid_form(
            **{
                "contact-full_name": "Sara A. Ahmadi",
                "contact-email": "",
                "contact-preferred_language": "fa",
                "presence-region": "AF-JOW",
                "presence-city": "Sheberghan",
                "household-TOTAL_FORMS": "1",
                "household-1-full_name": None,
                "household-1-relationship": None,
                "household-1-age_group": None,
            }
        )
    )["Location"]
    assert Citizen.objects.count() == 2  # the new one waits for proof before it may change anything
    client.post(second, {"code": last_code(PHONE), "action": "verify"})

    citizen = Citizen.objects.get()
    assert citizen.pk == original.pk
    assert citizen.full_name == "Sara A. Ahmadi"
    assert citizen.preferred_language == "fa"
    assert citizen.email == EMAIL  # kept: the new registration gave none
    assert sorted(citizen.presences.values_list("city", flat=True)) == ["Kabul", "Sheberghan"]
    assert list(citizen.household.values_list("full_name", flat=True)) == ["Ali Ahmadi"]


def test_registering_again_with_a_verified_email_merges_by_the_email_link(client, register):
    register(valid_form(**{"contact-phone": ""}))
    client.get(last_link(EMAIL))
    register(valid_form(**{"contact-phone": "", "contact-full_name": "Sara Second"}))
    client.get(last_link(EMAIL))
    citizen = Citizen.objects.get()
    assert citizen.full_name == "Sara Second"
    assert citizen.presences.count() == 1  # the same trip twice is kept once


def test_unverified_twins_cannot_take_over_a_verified_citizen(client, register):
    first = register(valid_form())["Location"]
    client.post(first, {"code": last_code(PHONE), "action": "verify"})
    register(valid_form(**{"contact-full_name": "Someone Else"}))
    assert Citizen.objects.get(phone_verified_at__isnull=False).full_name == "Sara Ahmadi"


def test_what_reached_the_waiting_registration_moves_with_it_when_it_merges(client, register):
    # An urgent alert included the unverified new registration, and its SMS was answered;
    # once the phone is proven and the two merge, both belong to the citizen who stays.
    from alerts.models import Delivery, InboundMessage
    from tests.factories import AlertFactory

    first = register(valid_form())["Location"]
    client.post(first, {"code": last_code(PHONE), "action": "verify"})
    original = Citizen.objects.get()
    second = register(valid_form(**{"contact-full_name": "Sara A. Ahmadi"}))["Location"]
    waiting = Citizen.objects.exclude(pk=original.pk).get()
    delivery = Delivery.objects.create(alert=AlertFactory(), channel="sms", address=PHONE, citizen=waiting)
    reply = InboundMessage.objects.create(
        provider_message_id="SM" + "7" * 32, from_number=PHONE, body="NEED", kind="check_in", citizen=waiting
    )

    client.post(second, {"code": last_code(PHONE), "action": "verify"})
    assert Citizen.objects.get().pk == original.pk
    delivery.refresh_from_db()
    reply.refresh_from_db()
    assert delivery.citizen_id == original.pk and reply.citizen_id == original.pk
