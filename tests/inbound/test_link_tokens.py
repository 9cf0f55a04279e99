"""The compact link tokens: what they carry, what they refuse, and the earlier format."""

from __future__ import annotations

import time

import pytest
from django.core import signing
from django.utils.crypto import salted_hmac

from alerts.services import links
from alerts.services.links import (
    InvalidLink,
    check_in_token,
    check_in_url,
    load_check_in_token,
    load_unsubscribe_token,
    unsubscribe_token,
)
from tests.factories import AlertFactory, CitizenFactory

pytestmark = pytest.mark.django_db


def test_a_check_in_token_names_citizen_and_alert_in_a_few_characters() -> None:
    citizen, alert = CitizenFactory(), AlertFactory()
    token = check_in_token(citizen, alert)
    assert len(token) < 50 and ":" not in token
    target = load_check_in_token(token)
    assert (target.citizen, target.alert) == (citizen, alert)
    assert load_check_in_token(check_in_token(citizen)).alert is None


@pytest.mark.parametrize("status", ["safe", "needs_assistance", "departed"])
def test_a_status_link_ends_with_its_slug(status: str) -> None:
    citizen = CitizenFactory()
    url = check_in_url(citizen, status=status)
    token, slug = url.removeprefix("http://testserver/checkin/").rstrip("/").split("/")
    assert links.STATUS_SLUGS[slug] == status
    assert load_check_in_token(token).citizen == citizen


def test_an_unknown_status_is_refused_before_any_link_is_made() -> None:
    with pytest.raises(ValueError, match="unknown check-in status"):
        check_in_url(CitizenFactory(), status="maybe")


def test_a_check_in_link_expires_after_its_max_age(settings) -> None:
    settings.CHECK_IN_LINK_MAX_AGE_SECONDS = 3600
    citizen = CitizenFactory()
    fresh = check_in_token(citizen, issued=int(time.time()) - 3500)
    assert load_check_in_token(fresh).citizen == citizen
    with pytest.raises(InvalidLink):
        load_check_in_token(check_in_token(citizen, issued=int(time.time()) - 3700))


def test_changing_any_part_of_a_token_breaks_it() -> None:
    citizen, other, alert = CitizenFactory(), CitizenFactory(), AlertFactory()
    token = check_in_token(citizen, alert)
    citizen_part, alert_part, issued, mac = token.split(".")
    forged = [
        ".".join((signing.b62_encode(other.pk), alert_part, issued, mac)),  # someone else
        ".".join((citizen_part, "-", issued, mac)),  # no longer about the alert
        ".".join((citizen_part, alert_part, signing.b62_encode(int(time.time()) + 10**6), mac)),  # younger
        ".".join((citizen_part, alert_part, issued, mac[:-2] + ("AA" if mac[-2:] != "AA" else "BB"))),
    ]
    for bad in forged:
        with pytest.raises(InvalidLink):
            load_check_in_token(bad)


@pytest.mark.parametrize("bad", ["", "abc", "a.b", "a.b.c.d.e", "!!.-.1.x", "1.-.1." + "A" * 20, "ZZZZZZZZZZZZZ.-.1.x"])
def test_malformed_tokens_are_invalid_links(bad: str) -> None:
    with pytest.raises(InvalidLink):
        load_check_in_token(bad)
    with pytest.raises(InvalidLink):
        load_unsubscribe_token(bad)


def test_the_two_kinds_of_token_are_not_interchangeable() -> None:
    citizen = CitizenFactory(email="a@example.org")
    with pytest.raises(InvalidLink):
        load_unsubscribe_token(check_in_token(citizen))
    with pytest.raises(InvalidLink):
        load_check_in_token(unsubscribe_token(citizen))


def test_tokens_made_before_a_key_rotation_still_work(settings) -> None:
    citizen = CitizenFactory(email="a@example.org")
    old_check_in, old_unsubscribe = check_in_token(citizen), unsubscribe_token(citizen)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-key-" + "n" * 40
    assert load_check_in_token(old_check_in).citizen == citizen
    assert load_unsubscribe_token(old_unsubscribe).address == "a@example.org"
    settings.SECRET_KEY_FALLBACKS = []  # the old key retired: its tokens with it
    with pytest.raises(InvalidLink):
        load_check_in_token(old_check_in)
    with pytest.raises(InvalidLink):
        load_unsubscribe_token(old_unsubscribe)


def test_links_in_messages_sent_before_the_compact_format_keep_working(settings) -> None:
    """Tokens of the earlier ``django.core.signing`` format are still read."""
    citizen, alert = CitizenFactory(email="a@example.org"), AlertFactory()
    check_in = signing.dumps({"c": citizen.pk, "a": alert.pk}, salt=links.CHECK_IN_SALT, compress=True)
    target = load_check_in_token(check_in)
    assert (target.citizen, target.alert) == (citizen, alert)
    tag = salted_hmac(links.UNSUBSCRIBE_SALT + ".address", "a@example.org").hexdigest()[:24]
    unsubscribe = signing.dumps({"c": citizen.pk, "a": tag}, salt=links.UNSUBSCRIBE_SALT)
    assert load_unsubscribe_token(unsubscribe).address == "a@example.org"
    stale = signing.dumps({"c": citizen.pk, "a": "0" * 24}, salt=links.UNSUBSCRIBE_SALT)
    assert load_unsubscribe_token(stale).address is None  # not the address they hold
    settings.CHECK_IN_LINK_MAX_AGE_SECONDS = -1
    with pytest.raises(InvalidLink):
        load_check_in_token(check_in)


def test_a_token_for_a_deleted_citizen_is_invalid() -> None:
    citizen = CitizenFactory(email="a@example.org")
    tokens = check_in_token(citizen), unsubscribe_token(citizen)
    citizen.delete()
    with pytest.raises(InvalidLink):
        load_check_in_token(tokens[0])
    with pytest.raises(InvalidLink):
        load_unsubscribe_token(tokens[1])


def test_links_follow_the_public_base_url(settings) -> None:
    citizen = CitizenFactory(email="a@example.org")
    settings.PUBLIC_BASE_URL = "https://alerts.embassy.example"
    assert check_in_url(citizen).startswith("https://alerts.embassy.example/checkin/")
    assert links.unsubscribe_url(citizen).startswith("https://alerts.embassy.example/u/")
