"""The code-entry page (/verify/<token>/) and the email-confirmation link
(/verify-email/<token>/) speak the citizen's language, as the other pages behind their
personal links do, unless this browser chose one with the site's language switcher."""

from __future__ import annotations

import re
import time

import pytest
from django.conf import settings
from django.core import signing
from django.test import Client

from registrations import services
from registrations.models import Citizen, Verification
from tests.factories import CitizenFactory
from tests.registrations.conftest import last_code, last_link, valid_form

pytestmark = pytest.mark.django_db

NEW_PHONE = "+93797654321"
ALMOST_DONE_FA = "تقریباً تمام است: تأیید کنید که خودتان هستید"
SAVED_FA = "تغییرات شما ذخیره شد."
WRONG_CODE_FA = "این کود درست نیست."
NEW_CODE_FA = "یک کود جدید فرستادیم."
LINK_DOES_NOT_WORK_FA = "این لینک کار نمی‌کند"
ALREADY_CONFIRMED_FA = "این از قبل تأیید شده است."
EXPIRED_FA = "وقت این لینک تمام شده است. یک لینک جدید بخواهید."


def _english_phone() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9")


def _is_dari(response) -> bool:  # type: ignore[no-untyped-def]
    page = response.content.decode()
    return bool(re.search(r'<html[^>]*\blang="fa"[^>]*\bdir="rtl"', page)) and response["Content-Language"] == "fa"


def _manage_path(citizen: Citizen) -> str:
    return services.manage_url(citizen).removeprefix(settings.PUBLIC_BASE_URL)


def _change_phone(phone: Client, citizen: Citizen, capture) -> str:  # type: ignore[no-untyped-def]
    """Change the citizen's mobile on their manage page; return the code page's path."""
    data = {
        "contact-full_name": citizen.full_name,
        "contact-phone": NEW_PHONE,
        "contact-email": citizen.email,
        "contact-preferred_language": citizen.preferred_language,
        "household-TOTAL_FORMS": "0",
        "household-INITIAL_FORMS": "0",
    }
    with capture(execute=True):
        response = phone.post(_manage_path(citizen), data)
    assert response.status_code == 302 and response["Location"].startswith("/verify/")
    return response["Location"]


def test_after_a_phone_change_the_code_page_stays_in_the_citizens_dari(django_capture_on_commit_callbacks):
    citizen = CitizenFactory(preferred_language="fa")
    phone = _english_phone()
    assert _is_dari(phone.get(_manage_path(citizen)))
    pending = _change_phone(phone, citizen, django_capture_on_commit_callbacks)

    page = phone.get(pending)
    assert page.status_code == 200 and _is_dari(page)
    html = page.content.decode()
    assert f"<h1>{ALMOST_DONE_FA}</h1>" in html and SAVED_FA in html
    assert "Almost done" not in html

    wrong = "000000" if last_code(NEW_PHONE) != "000000" else "111111"
    refused = phone.post(pending, {"code": wrong, "action": "verify"})
    assert refused.status_code == 400 and _is_dari(refused) and WRONG_CODE_FA in refused.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        resent = phone.post(pending, {"action": "resend"})
    again = phone.get(resent["Location"])
    assert _is_dari(again) and NEW_CODE_FA in again.content.decode()

    done = phone.post(resent["Location"], {"code": last_code(NEW_PHONE), "action": "verify"})
    assert done.status_code == 302
    assert Citizen.objects.get(pk=citizen.pk).phone_verified_at is not None


def test_an_english_citizen_gets_the_code_page_in_english_on_a_dari_phone(django_capture_on_commit_callbacks):
    citizen = CitizenFactory(preferred_language="en")
    phone = Client(HTTP_ACCEPT_LANGUAGE="fa")
    page = phone.get(_change_phone(phone, citizen, django_capture_on_commit_callbacks))
    assert page["Content-Language"] == "en"
    assert "<h1>Almost done: confirm it is you</h1>" in page.content.decode()


def test_a_language_picked_on_the_site_wins_on_the_code_page(django_capture_on_commit_callbacks):
    citizen = CitizenFactory(preferred_language="fa")
    phone = _english_phone()
    pending = _change_phone(phone, citizen, django_capture_on_commit_callbacks)
    switched = phone.post("/i18n/setlang/", {"language": "en", "next": pending}, follow=True)
    assert switched.redirect_chain[-1][0] == pending
    assert switched["Content-Language"] == "en"
    assert "<h1>Almost done: confirm it is you</h1>" in switched.content.decode()


@pytest.mark.parametrize(("browser", "expected"), [("fa", "fa"), ("en", "en")])
def test_a_language_the_site_is_not_in_leaves_the_browsers_on_the_code_page(
    browser: str, expected: str, django_capture_on_commit_callbacks
) -> None:
    citizen = CitizenFactory(preferred_language="ps")  # Pashto: alerts only, no pages
    phone = Client(HTTP_ACCEPT_LANGUAGE=browser)
    page = phone.get(_change_phone(phone, citizen, django_capture_on_commit_callbacks))
    assert page.status_code == 200 and page["Content-Language"] == expected


def test_the_code_page_after_registering_follows_the_language_chosen_for_the_citizen(register):
    # Filled in on an English page (the browser's), with Dari chosen for the alerts: the
    # code and the link arrive in Dari, and so does the page the code is typed into.
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    with_dari = valid_form(**{"contact-preferred_language": "fa"})
    pending = register(with_dari)["Location"]
    assert _is_dari(client.get(pending))


def test_an_invalid_code_page_link_follows_the_browser():
    assert Client(HTTP_ACCEPT_LANGUAGE="fa").get("/verify/not-a-token/")["Content-Language"] == "fa"
    assert _english_phone().get("/verify/not-a-token/")["Content-Language"] == "en"


@pytest.fixture
def dari_registration(register) -> Citizen:  # type: ignore[no-untyped-def]
    register(valid_form(**{"contact-preferred_language": "fa"}))
    return Citizen.objects.get()


def test_an_email_link_used_twice_says_so_in_dari(dari_registration):
    link = last_link("sara@example.org")
    phone = _english_phone()
    assert phone.get(link).status_code == 302
    assert Citizen.objects.get().email_verified_at is not None
    again = phone.get(link)
    assert again.status_code == 400 and _is_dari(again)
    html = again.content.decode()
    assert f"<h1>{LINK_DOES_NOT_WORK_FA}</h1>" in html and ALREADY_CONFIRMED_FA in html


def test_an_expired_email_link_says_so_in_dari(dari_registration, monkeypatch):
    verification = Verification.objects.get(channel="email")
    signed_at = int(time.time()) - settings.VERIFICATION_CODE_TTL_SECONDS - 60
    with monkeypatch.context() as past:  # the link as it was signed then
        past.setattr(signing.TimestampSigner, "timestamp", lambda self: signing.b62_encode(signed_at))
        token = signing.dumps({"v": verification.pk}, salt=services._EMAIL_SALT)
    expired = _english_phone().get(f"/verify-email/{token}/")
    assert expired.status_code == 400 and _is_dari(expired)
    assert EXPIRED_FA in expired.content.decode()
    assert Citizen.objects.get().email_verified_at is None


def test_an_email_link_we_did_not_sign_follows_the_browser(dari_registration):
    verification = Verification.objects.get(channel="email")
    forged = signing.dumps({"v": verification.pk}, salt="someone-else")
    for path in (f"/verify-email/{forged}/", "/verify-email/not-a-token/"):
        assert _english_phone().get(path)["Content-Language"] == "en"
        assert Client(HTTP_ACCEPT_LANGUAGE="fa").get(path)["Content-Language"] == "fa"
