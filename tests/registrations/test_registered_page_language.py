""" "You are registered", reached after the code page or the email link, speaks the
language those pages spoke (the citizen's), not the phone's: the page itself knows no
citizen, so they send the language along; a language picked in this browser wins."""

from __future__ import annotations

import pytest
from django.test import Client

from registrations.models import Citizen
from tests.registrations.conftest import last_code, last_link, valid_form

pytestmark = pytest.mark.django_db

REGISTERED_FA = "ثبت نام شما انجام شد"


def _dari_registration(register) -> tuple[Client, str]:  # type: ignore[no-untyped-def]
    client = Client(HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9")
    pending = register(valid_form(**{"contact-preferred_language": "fa"}))["Location"]
    return client, pending


def _title(response) -> str:  # type: ignore[no-untyped-def]
    html = response.content.decode()
    return html.split("<h1>", 1)[1].split("</h1>", 1)[0]


def test_a_dari_citizen_on_an_english_phone_is_told_in_dari_after_the_code(register):
    client, pending = _dari_registration(register)
    done = client.post(pending, {"code": last_code("+93701234567"), "action": "verify"})
    assert done.status_code == 302 and done["Location"] == "/registered/?lang=fa"
    page = client.get(done["Location"])
    assert page["Content-Language"] == "fa" and _title(page) == REGISTERED_FA
    assert Citizen.objects.get().phone_verified_at is not None


def test_a_dari_citizen_on_an_english_phone_is_told_in_dari_after_the_email_link(register):
    client, _ = _dari_registration(register)
    done = client.get(last_link("sara@example.org"))
    assert done.status_code == 302 and done["Location"] == "/registered/?lang=fa"
    assert client.get(done["Location"])["Content-Language"] == "fa"


def test_no_language_is_sent_along_when_the_browser_already_speaks_it(register):
    pending = register(valid_form(**{"contact-preferred_language": "en"}))["Location"]
    done = Client(HTTP_ACCEPT_LANGUAGE="en").post(pending, {"code": last_code("+93701234567"), "action": "verify"})
    assert done["Location"] == "/registered/"


def test_a_language_picked_in_this_browser_wins_over_the_one_sent_along():
    client = Client(HTTP_ACCEPT_LANGUAGE="fa")
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    page = client.get("/registered/?lang=fa")
    assert page["Content-Language"] == "en" and _title(page) == "You are registered"


@pytest.mark.parametrize("value", ["ps", "xx", "", "fa-evil"])
def test_a_language_the_site_does_not_have_is_ignored(value: str):
    page = Client(HTTP_ACCEPT_LANGUAGE="en").get("/registered/", {"lang": value})
    assert page.status_code == 200 and page["Content-Language"] == "en"
