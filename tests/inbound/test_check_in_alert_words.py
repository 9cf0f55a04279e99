"""The check-in page names the alert in its own words, never by the staff's title."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from alerts.services.alert_words import MAX_CHARS, alert_words
from alerts.services.links import check_in_url
from tests.factories import AlertFactory, AlertTextFactory, AreaFactory, CitizenFactory

pytestmark = pytest.mark.django_db

TITLE = "INTERNAL wave 2 Kabul (do not send)"


def _page(citizen, alert, language: str = "en") -> str:
    url = check_in_url(citizen, alert).removeprefix("http://testserver")
    return Client(HTTP_ACCEPT_LANGUAGE=language).get(url).content.decode()


def test_the_email_subject_in_the_pages_language_is_shown() -> None:
    alert = AlertFactory(title=TITLE, live=True)
    AlertTextFactory(alert=alert, language="en", email_subject="Leave Kabul by road today")
    AlertTextFactory(alert=alert, language="fa", email_subject="امروز از راه زمینی از کابل خارج شوید")
    assert alert_words(alert, "en").text == "Leave Kabul by road today"
    words = alert_words(alert, "fa")
    assert (words.text, words.language) == ("امروز از راه زمینی از کابل خارج شوید", "fa")
    page = _page(CitizenFactory(preferred_language="fa"), alert)
    assert '<bdi lang="fa">امروز از راه زمینی از کابل خارج شوید</bdi>' in page
    assert TITLE not in page


def test_without_a_text_in_the_pages_language_the_fallback_languages_is_shown() -> None:
    alert = AlertFactory(title=TITLE, live=True, fallback_language="en")
    AlertTextFactory(alert=alert, language="en", email_subject="Go to the northern gate")
    AlertTextFactory(alert=alert, language="fr", email_subject="Allez à la porte nord")
    words = alert_words(alert, "fa")
    assert (words.text, words.language) == ("Go to the northern gate", "en")
    page = _page(CitizenFactory(preferred_language="fa"), alert)
    # Marked as English, isolated from the right-to-left sentence around it.
    assert '<bdi lang="en">Go to the northern gate</bdi>' in page
    assert TITLE not in page


def test_without_a_subject_the_start_of_the_sms_text_is_shown_filled_but_not_personal() -> None:
    area = AreaFactory(country="AF", region="AF-KAB", name="Kabul", local_names={"fa": "کابل"})
    alert = AlertFactory(title=TITLE, live=True, advisory_level=4)
    alert.areas.add(area)
    AlertTextFactory(
        alert=alert,
        language="fa",
        email_subject="",
        sms_text="سلام {name}، سطح {level} در {area}: {level_name}. {checkin_words} {checkin_link}",
    )
    citizen = CitizenFactory(preferred_language="fa", full_name="Zahra Karimi")
    words = alert_words(alert, "fa")
    assert words.text.startswith("سلام، سطح 4 در کابل: ")
    assert "{" not in words.text and "Zahra" not in words.text
    assert len(words.text) <= MAX_CHARS and words.text.endswith("…")
    page = _page(citizen, alert)
    assert "سلام، سطح 4 در کابل" in page
    line = re.search(r'<p class="note alert-words">(.*?)</p>', page, re.S).group(1)
    assert "Zahra" not in page and "/checkin/" not in line


def test_a_test_alert_says_so_as_its_messages_do() -> None:
    alert = AlertFactory(title=TITLE)  # a test alert: the safe default
    AlertTextFactory(alert=alert, email_subject="Exercise: leave Kabul")
    assert alert_words(alert, "en").text == "TEST: Exercise: leave Kabul"


def test_the_words_are_escaped() -> None:
    alert = AlertFactory(title=TITLE, live=True)
    AlertTextFactory(alert=alert, email_subject='<img src=x onerror="alert(1)"> & leave')
    page = _page(CitizenFactory(), alert)
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; leave" in page


def test_an_alert_without_texts_is_not_named_at_all() -> None:
    alert = AlertFactory(title=TITLE, live=True)
    assert alert_words(alert, "en") is None
    page = _page(CitizenFactory(), alert)
    assert TITLE not in page
    assert "In answer to the alert" not in page
    assert "I am safe" in page
