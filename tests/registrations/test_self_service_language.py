"""The manage-my-registration link opens in the citizen's language, not the phone's,
unless this browser chose one with the site's language switcher."""

from __future__ import annotations

import pytest
from django.test import Client

from registrations.models import Citizen, Presence
from registrations.services import manage_url
from tests.factories import CitizenFactory, PresenceFactory

pytestmark = pytest.mark.django_db

YOUR_REGISTRATION_FA = "ثبت نام شما"
PHONE = "+93701234567"  # the form checks numbers; the factory's UK drama range is not one


def _path(url: str) -> str:
    return url.removeprefix("http://testserver")


@pytest.fixture
def phone() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")


def _contact_data(citizen: Citizen, language: str) -> dict[str, str]:
    return {
        "contact-full_name": citizen.full_name,
        "contact-phone": citizen.phone,
        "contact-email": citizen.email,
        "contact-preferred_language": language,
        "household-TOTAL_FORMS": "0",
        "household-INITIAL_FORMS": "0",
    }


def test_a_dari_citizens_manage_page_is_in_dari_on_an_english_phone(phone) -> None:
    citizen = CitizenFactory(preferred_language="fa")
    response = phone.get(_path(manage_url(citizen)))
    assert response.status_code == 200
    assert response["Content-Language"] == "fa"
    page = response.content.decode()
    assert 'lang="fa" dir="rtl"' in page
    assert f"<h1>{YOUR_REGISTRATION_FA}</h1>" in page


def test_what_a_change_says_is_in_dari_too(phone) -> None:
    citizen = CitizenFactory(preferred_language="fa", phone=PHONE)
    path = _path(manage_url(citizen))
    saved = phone.post(path, _contact_data(citizen, "fa"), follow=True)
    assert saved.redirect_chain[-1][0] == path
    assert "تغییرات شما ذخیره شد." in saved.content.decode()
    trip = PresenceFactory(citizen=citizen)
    ended = phone.post(f"{path}trips/{trip.pk}/end/", follow=True)
    assert "ثبت کردیم که شما دیگر آنجا نیستید." in ended.content.decode()
    assert Presence.objects.get().ended_at is not None


def test_choosing_english_on_the_manage_page_turns_it_english(phone) -> None:
    citizen = CitizenFactory(preferred_language="fa", phone=PHONE)
    path = _path(manage_url(citizen))
    saved = phone.post(path, _contact_data(citizen, "en"), follow=True)
    assert saved.redirect_chain[-1][0] == path
    assert saved["Content-Language"] == "en"
    assert "Your changes are saved." in saved.content.decode()


def test_the_trip_and_delete_pages_follow_the_citizen(phone) -> None:
    citizen = CitizenFactory(preferred_language="fa")
    path = _path(manage_url(citizen))
    assert phone.get(path + "trips/new/")["Content-Language"] == "fa"
    confirm = phone.get(path + "delete/")
    assert confirm["Content-Language"] == "fa"
    assert "ثبت نام خود را حذف می\u200cکنید؟" in confirm.content.decode()
    deleted = phone.post(path + "delete/")
    assert "ثبت نام شما حذف شد" in deleted.content.decode()
    assert not Citizen.objects.exists()


def test_the_language_switcher_wins_on_the_manage_page(phone) -> None:
    citizen = CitizenFactory(preferred_language="fa")
    path = _path(manage_url(citizen))
    switched = phone.post("/i18n/setlang/", {"language": "en", "next": path}, follow=True)
    assert switched["Content-Language"] == "en"
    assert "<h1>Your registration</h1>" in switched.content.decode()
