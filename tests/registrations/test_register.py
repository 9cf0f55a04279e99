from __future__ import annotations

import datetime
import re

import pytest

from alerts.models import OutboxMessage
from registrations.models import Citizen, HouseholdMember, Presence, Verification
from tests.registrations.conftest import valid_form

pytestmark = pytest.mark.django_db


def test_the_form_renders_light_and_works_without_javascript(client):
    response = client.get("/?country=AF")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="contact-full_name"' in html
    assert ">Kābul<" in html  # regions of the chosen country are in the page
    assert "<noscript>" in html  # country change and extra people work by posting
    assert len(response.content) < 50_000
    assert ">Emergency contact name:</label>" in html and "Emergency contact: " not in html  # one colon, Django's


def test_a_full_registration_saves_the_citizen_household_and_trip_and_sends_codes(register):
    response = register(valid_form())
    assert response.status_code == 302
    assert response["Location"].startswith("/verify/")
    citizen = Citizen.objects.get()
    assert citizen.full_name == "Sara Ahmadi"
    assert citizen.phone == "+93701234567"
    assert citizen.email == "sara@example.org"
    assert citizen.phone_verified_at is None and citizen.email_verified_at is None
    assert citizen.emergency_contact_phone == "+442079460018"
    assert citizen.people_count == 3
    assert sorted(HouseholdMember.objects.values_list("relationship", flat=True)) == ["child", "partner"]
    presence = Presence.objects.get()
    assert (presence.country.code, presence.region, presence.city) == ("AF", "AF-KAB", "Kabul")
    assert presence.departure_date == datetime.date(2021, 9, 30)
    assert OutboxMessage.objects.filter(channel="sms", to="+93701234567").count() == 1
    assert OutboxMessage.objects.filter(channel="email", to="sara@example.org").count() == 1
    assert Verification.objects.count() == 2


def test_national_phone_formats_are_accepted_for_the_chosen_country(register):
    register(valid_form(**{"contact-phone": "070 123 4567"}))
    assert Citizen.objects.get().phone == "+93701234567"


def test_i_live_here_needs_no_dates(register):
    response = register(
        valid_form(**{"presence-lives_here": "on", "presence-arrival_date": "", "presence-departure_date": ""})
    )
    assert response.status_code == 302
    assert Presence.objects.get().lives_here


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"contact-phone": "+93 12"}, "contact-phone", "not a valid phone number"),
        ({"contact-phone": "+93 20 210 1234"}, "contact-phone", "not a mobile number"),
        ({"contact-phone": "", "contact-email": ""}, "contact-phone", "Give a mobile number or an email"),
        ({"contact-email": "sara@"}, "contact-email", "valid email"),
        ({"presence-region": "IR-07"}, "presence-region", "not in the country you chose"),
        ({"presence-departure_date": "2021-06-01"}, "presence-departure_date", "before the arriving date"),
        ({"presence-arrival_date": ""}, "presence-arrival_date", "or tick"),
        ({"contact-consent": None}, "contact-consent", "agree to be contacted"),
        ({"presence-latitude": "91"}, "presence-latitude", "less than or equal to 90"),
        ({"presence-longitude": ""}, "presence-longitude", "both latitude and longitude"),
        ({"household-1-age_group": ""}, "household-1-age_group", "Fill in name, relationship and age"),
        ({"contact-full_name": "   "}, "contact-full_name", "This field is required"),
    ],
)
def test_each_invalid_input_is_explained_next_to_its_field_and_nothing_is_saved(register, overrides, field, message):
    response = register(valid_form(**overrides))
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    # The error sits in the same field block as the input it is about.
    block_start = html.index(f'id="id_{field}"') if f'id="id_{field}"' in html else -1
    assert block_start != -1
    field_block = html[html.rfind('<div class="field', 0, block_start) : html.index("</div>", block_start)]
    assert "errorlist" in field_block and message in field_block
    # What else was typed is kept.
    assert 'value="Ali Ahmadi"' in html
    assert Citizen.objects.count() == 0
    assert Presence.objects.count() == 0
    assert HouseholdMember.objects.count() == 0
    assert OutboxMessage.objects.count() == 0


def test_add_person_without_javascript_keeps_what_was_typed_and_adds_a_row(client):
    data = valid_form(action="add_person")
    response = client.post("/", data)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="household-3-full_name"' in html
    assert 'value="Sara Ahmadi"' in html
    assert Citizen.objects.count() == 0


def test_changing_country_without_javascript_shows_its_regions(client):
    response = client.post("/", valid_form(**{"presence-country": "IR", "action": "refresh"}))
    assert response.status_code == 200
    assert "Tehrān" in response.content.decode()


def test_the_regions_endpoint_lists_a_countrys_provinces(client):
    regions = dict(client.get("/regions/af/").json()["regions"])
    assert regions["AF-NIM"].startswith("N")
    assert "AF-JOW" in regions


def test_the_form_is_protected_by_csrf():
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post("/", valid_form())
    assert response.status_code == 403
    assert Citizen.objects.count() == 0


def _dangling_descriptions(html: str) -> set[str]:
    """The ids that aria-describedby names but no element of the page has."""
    ids = set(re.findall(r'\bid="([^"]+)"', html))
    named = {name for value in re.findall(r'aria-describedby="([^"]+)"', html) for name in value.split()}
    return named - ids


def test_each_help_text_is_tied_to_its_field_for_screen_readers(client):
    """Django's widgets point aria-describedby at <id>_helptext; the help paragraphs had
    <id>_help, so a screen reader never read "with the country code" with the phone field."""
    for html in (
        client.get("/").content.decode(),
        client.post("/", {"action": "register", "contact-phone": "12"}).content.decode(),
    ):
        assert re.search(r'aria-describedby="id_contact-phone_helptext[ "]', html)
        assert 'id="id_contact-phone_helptext"' in html
        assert _dangling_descriptions(html) == set()
