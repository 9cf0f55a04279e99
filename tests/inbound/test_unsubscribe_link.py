"""One-click unsubscribe (RFC 8058): GET shows a page and changes nothing; POST opts out."""

from __future__ import annotations

import base64

import pytest
from django.core import signing
from django.test import Client

from alerts.services.links import check_in_url, load_unsubscribe_token, unsubscribe_headers, unsubscribe_url
from tests.factories import CitizenFactory

pytestmark = pytest.mark.django_db


def _path(url: str) -> str:
    assert url.startswith("http://testserver/")
    return url.removeprefix("http://testserver")


def test_the_url_is_absolute_and_names_the_citizen_and_address_without_spelling_it() -> None:
    citizen = CitizenFactory(email="someone@example.org")
    url = unsubscribe_url(citizen, "Someone@Example.org")
    assert url.startswith("http://testserver/u/")
    token = url.rstrip("/").rsplit("/", 1)[-1]
    target = load_unsubscribe_token(token)
    assert (target.citizen, target.address) == (citizen, "someone@example.org")
    # URLs end up in access logs: the token is the citizen's number and keyed digests,
    # nothing of the address, in plain or in base64.
    assert "someone" not in token.lower() and "example" not in token.lower()
    citizen_part, tag, mac = token.split(".")
    assert citizen_part.isalnum() and len(tag) == 16 and len(mac) == 20
    for part in (tag, mac):
        decoded = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        assert b"someone" not in decoded and b"example" not in decoded


def test_the_headers_offer_one_click() -> None:
    citizen = CitizenFactory()
    headers = unsubscribe_headers(citizen)
    assert headers["List-Unsubscribe"] == f"<{unsubscribe_url(citizen)}>"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_get_shows_a_visible_button_and_changes_nothing(client) -> None:
    citizen = CitizenFactory()
    response = client.get(_path(unsubscribe_url(citizen)))
    assert response.status_code == 200
    page = response.content.decode()
    assert '<form method="post">' in page
    assert "Unsubscribe</button>" in page
    assert citizen.email not in page  # masked: c•••@example.org
    assert "•••@example.org" in page
    # A mail scanner prefetching the link twice changes nothing either.
    client.get(_path(unsubscribe_url(citizen)))
    client.head(_path(unsubscribe_url(citizen)))
    citizen.refresh_from_db()
    assert citizen.email_opted_out_at is None


def test_a_one_click_post_without_cookies_or_csrf_token_opts_the_email_out() -> None:
    citizen = CitizenFactory()
    mail_provider = Client(enforce_csrf_checks=True)  # no cookies, no token, as Gmail posts
    response = mail_provider.post(
        _path(unsubscribe_url(citizen)),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    citizen.refresh_from_db()
    assert citizen.email_opted_out_at is not None
    assert not citizen.email_reachable
    assert citizen.phone_reachable  # SMS is not touched
    assert "no more alert emails" in response.content.decode()


def test_pressing_the_button_twice_keeps_the_first_date() -> None:
    citizen = CitizenFactory()
    path = _path(unsubscribe_url(citizen))
    browser = Client(enforce_csrf_checks=True)
    browser.post(path)
    citizen.refresh_from_db()
    first = citizen.email_opted_out_at
    browser.post(path)
    citizen.refresh_from_db()
    assert citizen.email_opted_out_at == first
    assert "already" in browser.get(path).content.decode()


def test_a_tampered_token_is_refused_and_changes_nothing(client) -> None:
    citizen = CitizenFactory()
    other = CitizenFactory()
    token = _path(unsubscribe_url(citizen)).split("/")[2]
    forged = signing.dumps({"c": other.pk, "a": "0" * 24}, salt="not-the-unsubscribe-salt")
    for bad in (token[:-3] + "abc", forged):
        response = Client(enforce_csrf_checks=True).post(f"/u/{bad}/")
        assert response.status_code == 404
        assert "not valid" in response.content.decode()
    for row in (citizen, other):
        row.refresh_from_db()
        assert row.email_opted_out_at is None


def test_a_check_in_token_is_not_an_unsubscribe_token() -> None:
    citizen = CitizenFactory()
    token = check_in_url(citizen).rstrip("/").rsplit("/", 1)[-1]
    response = Client(enforce_csrf_checks=True).post(f"/u/{token}/")
    assert response.status_code == 404
    citizen.refresh_from_db()
    assert citizen.email_opted_out_at is None


def test_a_link_for_an_address_the_citizen_no_longer_holds_changes_nothing() -> None:
    citizen = CitizenFactory(email="old@example.org")
    old_link = _path(unsubscribe_url(citizen))
    citizen.email = "new@example.org"
    citizen.save()
    response = Client(enforce_csrf_checks=True).post(old_link)
    assert response.status_code == 200
    assert "no alert emails to the address this link was made" in response.content.decode()
    citizen.refresh_from_db()
    assert citizen.email_opted_out_at is None


def test_opting_out_an_address_covers_every_citizen_row_holding_it() -> None:
    citizen = CitizenFactory(email="shared@example.org")
    twin = CitizenFactory(email="shared@example.org", email_verified_at=None)
    Client(enforce_csrf_checks=True).post(_path(unsubscribe_url(citizen)))
    for row in (citizen, twin):
        row.refresh_from_db()
        assert row.email_opted_out_at is not None
