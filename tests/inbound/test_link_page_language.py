"""Pages behind a citizen's personal links speak the citizen's language, not the phone's,
unless this browser chose one with the site's language switcher."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client

from alerts.models import CheckIn
from alerts.services.links import check_in_url, unsubscribe_url
from tests.factories import AlertFactory, AlertTextFactory, CitizenFactory

pytestmark = pytest.mark.django_db

CHECK_IN_HEADING_FA = "به سفارت بگویید که چطور هستید"
SAFE_FA = "من در امان هستم"
UNSUBSCRIBE_HEADING_FA = "قطع ایمیل\u200cهای هشدار"


def _path(url: str) -> str:
    return url.removeprefix("http://testserver")


def _english_phone() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9")


def _is_dari(response) -> bool:
    page = response.content.decode()
    return bool(re.search(r'<html[^>]*\blang="fa"[^>]*\bdir="rtl"', page)) and response["Content-Language"] == "fa"


def test_a_dari_citizen_gets_the_check_in_page_in_dari_on_an_english_phone() -> None:
    citizen = CitizenFactory(preferred_language="fa")
    response = _english_phone().get(_path(check_in_url(citizen, AlertFactory())))
    assert response.status_code == 200
    assert _is_dari(response)
    page = response.content.decode()
    assert f"<h1>{CHECK_IN_HEADING_FA}</h1>" in page
    assert f">{SAFE_FA}</button>" in page
    assert "Tell the embassy how you are" not in page


def test_the_thank_you_after_answering_stays_in_dari() -> None:
    citizen = CitizenFactory(preferred_language="fa")
    phone = _english_phone()
    response = phone.post(_path(check_in_url(citizen)), {"answer": "safe"})
    thanks = phone.get(response["Location"])
    assert _is_dari(thanks)
    assert "ما ثبت کردیم" in thanks.content.decode()
    assert CheckIn.objects.get().status == CheckIn.Status.SAFE


def test_a_status_link_confirms_in_dari() -> None:
    citizen = CitizenFactory(preferred_language="fa")
    response = _english_phone().get(_path(check_in_url(citizen, status=CheckIn.Status.SAFE)))
    assert _is_dari(response)
    assert SAFE_FA in response.content.decode()


def test_an_english_citizen_gets_english_on_a_dari_phone() -> None:
    citizen = CitizenFactory(preferred_language="en")
    response = Client(HTTP_ACCEPT_LANGUAGE="fa").get(_path(check_in_url(citizen)))
    assert response["Content-Language"] == "en"
    assert "<h1>Tell the embassy how you are</h1>" in response.content.decode()


@pytest.mark.parametrize(("browser", "expected"), [("fa", "fa"), ("en", "en")])
def test_a_language_the_site_is_not_in_leaves_the_browsers(browser: str, expected: str) -> None:
    # Pashto is an alert language, not a site language: the page cannot be in it.
    citizen = CitizenFactory(preferred_language="ps")
    response = Client(HTTP_ACCEPT_LANGUAGE=browser).get(_path(check_in_url(citizen)))
    assert response.status_code == 200
    assert response["Content-Language"] == expected


def test_a_language_picked_on_the_site_wins_over_the_citizens() -> None:
    citizen = CitizenFactory(preferred_language="fa")
    path = _path(check_in_url(citizen))
    phone = _english_phone()
    assert _is_dari(phone.get(path))
    # The switcher in the page's header: Django's set_language, back to the same page.
    switched = phone.post("/i18n/setlang/", {"language": "en", "next": path}, follow=True)
    assert switched.redirect_chain[-1][0] == path
    assert switched["Content-Language"] == "en"
    assert "<h1>Tell the embassy how you are</h1>" in switched.content.decode()
    # ... and back to Dari the same way, even on a phone set to English.
    assert _is_dari(phone.post("/i18n/setlang/", {"language": "fa", "next": path}, follow=True))


def test_a_language_cookie_naming_no_site_language_is_no_choice() -> None:
    citizen = CitizenFactory(preferred_language="fa")
    phone = _english_phone()
    phone.cookies[settings.LANGUAGE_COOKIE_NAME] = "xx"
    assert _is_dari(phone.get(_path(check_in_url(citizen))))


def test_the_unsubscribe_pages_follow_the_citizens_language() -> None:
    citizen = CitizenFactory(preferred_language="fa")
    path = _path(unsubscribe_url(citizen))
    phone = _english_phone()
    page = phone.get(path)
    assert _is_dari(page)
    assert f"<h1>{UNSUBSCRIBE_HEADING_FA}</h1>" in page.content.decode()
    done = phone.post(path)
    assert _is_dari(done)
    citizen.refresh_from_db()
    assert citizen.email_opted_out_at is not None


def test_an_invalid_link_follows_the_browser() -> None:
    response = Client(HTTP_ACCEPT_LANGUAGE="fa").get("/checkin/not-a-token/")
    assert response.status_code == 404
    assert response["Content-Language"] == "fa"
    response = _english_phone().get("/checkin/not-a-token/")
    assert response["Content-Language"] == "en"


def test_the_check_in_page_names_the_alert_in_the_words_it_was_sent_in() -> None:
    citizen = CitizenFactory(preferred_language="fa")
    alert = AlertFactory(title="Kabul L4 evac wave 2 (internal)")
    AlertTextFactory(alert=alert, language="en", email_subject="Leave Kabul now")
    AlertTextFactory(alert=alert, language="fa", email_subject="همین حالا از کابل خارج شوید")
    page = _english_phone().get(_path(check_in_url(citizen, alert))).content.decode()
    assert '<bdi lang="fa">TEST: همین حالا از کابل خارج شوید</bdi>' in page
    assert "Kabul L4 evac" not in page
    assert "Leave Kabul now" not in page
