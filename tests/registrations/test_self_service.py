from __future__ import annotations

import re

import pytest
from django.test import override_settings

from alerts.models import Delivery, OutboxMessage
from registrations.models import Citizen, HouseholdMember, Presence
from tests.registrations.conftest import last_code, last_link, valid_form

pytestmark = pytest.mark.django_db

PHONE = "+93701234567"
EMAIL = "sara@example.org"


@pytest.fixture
def verified(client, register):
    pending = register(valid_form())["Location"]
    client.post(pending, {"code": last_code(PHONE), "action": "verify"})
    client.get(last_link(EMAIL))
    return Citizen.objects.get()


@pytest.fixture
def manage_link(client, verified, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/manage/", {"contact": EMAIL})
    assert "Check your messages" in response.content.decode()
    return last_link(EMAIL)


def test_the_link_request_says_the_same_for_unknown_contacts(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/manage/", {"contact": "nobody@example.org"})
    assert "Check your messages" in response.content.decode()
    assert OutboxMessage.objects.count() == 0


def test_the_link_can_be_asked_for_by_sms(client, verified, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/manage/", {"contact": "+93 70 123 4567"})
    body = OutboxMessage.objects.filter(channel="sms").order_by("-id").first().body
    assert "/manage/" in body


def test_the_link_shows_everything_held(client, manage_link):
    html = client.get(manage_link).content.decode()
    for expected in ("Sara Ahmadi", PHONE, EMAIL, "Kabul", "Ali Ahmadi", "Lina Ahmadi", "Omid Ahmadi"):
        assert expected in html


def test_the_link_changes_details_and_household(client, verified, manage_link):
    response = client.post(
        manage_link,
        {
            "contact-full_name": "Sara Ahmadi-Noori",
            "contact-phone": PHONE,
            "contact-email": EMAIL,
            "contact-preferred_language": "fa",
            "contact-emergency_contact_name": "",
            "contact-emergency_contact_phone": "",
            "household-TOTAL_FORMS": "1",
            "household-INITIAL_FORMS": "0",
            "household-0-full_name": "Ali Ahmadi",
            "household-0-relationship": "partner",
            "household-0-age_group": "adult",
        },
    )
    assert response.status_code == 302
    citizen = Citizen.objects.get()
    assert citizen.full_name == "Sara Ahmadi-Noori"
    assert citizen.preferred_language == "fa"
    assert citizen.phone_verified_at is not None  # unchanged contact stays verified
    assert HouseholdMember.objects.count() == 1


def test_a_changed_phone_must_be_verified_again(client, verified, manage_link, django_capture_on_commit_callbacks):
    data = {
        "contact-full_name": "Sara Ahmadi",
        "contact-phone": "+93 79 765 4321",
        "contact-email": EMAIL,
        "contact-preferred_language": "en",
        "household-TOTAL_FORMS": "0",
        "household-INITIAL_FORMS": "0",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(manage_link, data)
    assert response["Location"].startswith("/verify/")
    citizen = Citizen.objects.get()
    assert citizen.phone == "+93797654321" and citizen.phone_verified_at is None
    client.post(response["Location"], {"code": last_code("+93797654321"), "action": "verify"})
    assert Citizen.objects.get().phone_verified_at is not None


def test_trips_can_be_added_changed_and_ended(client, verified, manage_link):
    add = manage_link + "trips/new/"
    response = client.post(
        add,
        {
            "presence-country": "AF",
            "presence-region": "AF-NIM",
            "presence-city": "Zaranj",
            "presence-arrival_date": "2021-08-01",
            "action": "save",
        },
    )
    assert response.status_code == 302
    trip = Presence.objects.get(city="Zaranj")
    bad = client.post(
        f"{manage_link}trips/{trip.pk}/",
        {
            "presence-country": "AF",
            "presence-region": "AF-NIM",
            "presence-arrival_date": "2021-08-01",
            "presence-departure_date": "2021-07-01",
            "action": "save",
        },
    )
    assert bad.status_code == 400 and "before the arriving date" in bad.content.decode()
    client.post(f"{manage_link}trips/{trip.pk}/end/")
    trip.refresh_from_db()
    assert trip.ended_at is not None
    assert list(Presence.objects.current().values_list("city", flat=True)) == []  # 2021 trip over, Zaranj ended


def test_deletion_really_deletes(client, verified, manage_link):
    from django.contrib.auth import get_user_model

    from alerts.models import Alert

    staff = get_user_model().objects.create_user("author", password="x" * 12)
    alert = Alert.objects.create(title="Leave now", created_by=staff)
    Delivery.objects.create(alert=alert, channel="sms", address=PHONE, citizen=verified)
    page = client.get(manage_link + "delete/")
    assert "Delete your registration?" in page.content.decode()
    assert Citizen.objects.exists()  # a GET deletes nothing
    response = client.post(manage_link + "delete/")
    assert "deleted" in response.content.decode()
    assert Citizen.objects.count() == 0
    assert Presence.objects.count() == 0
    assert HouseholdMember.objects.count() == 0
    assert not OutboxMessage.objects.filter(to__in=[PHONE, EMAIL]).exists()
    delivery = Delivery.objects.get()
    assert PHONE not in delivery.address and delivery.citizen_id is None
    assert client.get(manage_link).status_code == 404


def test_a_tampered_or_expired_link_shows_nothing(client, manage_link):
    assert client.get(re.sub(r"/manage/(.)", r"/manage/x", manage_link, count=1)).status_code == 404
    with override_settings(SELF_SERVICE_LINK_TTL_SECONDS=-1):
        assert client.get(manage_link).status_code == 404


def test_the_link_names_the_province_not_its_iso_code(client, manage_link):
    html = client.get(manage_link).content.decode()
    assert "Kabul, Kābul, Afghanistan" in html
    assert "AF-KAB" not in html


def test_a_refused_change_says_so_at_the_top_and_keeps_what_was_typed(client, verified, manage_link):
    """Before, the page came back (400) with the error far below and nothing at the top:
    on a phone it looked as if the changes were saved."""
    response = client.post(
        manage_link,
        {
            "contact-full_name": "Sara Ahmadi-Noori",
            "contact-phone": PHONE,
            "contact-email": "not-an-email",
            "contact-preferred_language": "en",
            "household-TOTAL_FORMS": "1",
            "household-INITIAL_FORMS": "0",
            "household-0-full_name": "Ali Ahmadi",
            "household-0-relationship": "partner",
            "household-0-age_group": "adult",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    summary = html.index('class="error-summary"')
    assert summary < html.index("Contacts</h2>")  # above the fold, not under the form
    assert "Some answers need correcting" in html
    assert 'value="Sara Ahmadi-Noori"' in html
    assert Citizen.objects.get().full_name == "Sara Ahmadi"


def test_the_answers_given_say_their_time_zone(client, verified, manage_link):
    from alerts.models import CheckIn
    from alerts.services.checkins import record_check_in

    record_check_in(verified, CheckIn.Status.SAFE, source=CheckIn.Source.LINK)
    html = client.get(manage_link).content.decode()
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC</time>: I am safe", html)


def test_the_emergency_contact_labels_end_in_one_colon(client, manage_link):
    """The labels were "Emergency contact: name" and Django adds its own colon."""
    html = client.get(manage_link).content.decode()
    assert ">Emergency contact name:</label>" in html and ">Emergency contact phone:</label>" in html
    assert "Emergency contact: " not in html


def test_a_self_service_link_waits_as_long_as_it_works(monkeypatch, settings):
    # Held back by a channel pause, a message is dropped once it would be useless: a
    # self-service link works for hours, not for a verification code's 15 minutes.
    import time

    from alerts import notify
    from registrations import services
    from tests.factories import CitizenFactory

    queued: list[dict] = []
    monkeypatch.setattr(notify, "queue_messages", lambda payloads: queued.extend(payloads))
    citizen = CitizenFactory(phone="+93701234567")
    services.send_manage_link(citizen.email)
    services.send_manage_link(citizen.phone)
    assert [q["channel"] for q in queued] == ["email", "sms"]
    for payload in queued:
        assert abs(payload["expires_at"] - time.time() - settings.SELF_SERVICE_LINK_TTL_SECONDS) < 60
