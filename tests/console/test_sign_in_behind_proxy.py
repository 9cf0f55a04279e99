"""Lock-outs behind the TLS proxy: django-axes counts failures per user name and client
address, the client's address read from X-Forwarded-For as our own proxy wrote it, so an
attacker elsewhere who knows an approver's user name cannot lock the approver out."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.conf import settings
from django.test import Client, RequestFactory
from django.urls import reverse

from embassy.client_address import client_address
from tests.console.conftest import TEST_PASSWORD

LOGIN = reverse("console:login")
PROXY = "10.0.0.2"  # every request reaches the web server from the proxy
STAFF_MEMBER = "198.51.100.7"
ATTACKER = "203.0.113.66"


def _address(forwarded: str | None, remote: str = PROXY) -> str | None:
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_address(RequestFactory().get("/", **meta))


@pytest.fixture
def behind_proxy(settings):  # type: ignore[no-untyped-def]
    settings.TRUST_FORWARDED_HEADERS = True
    settings.TRUSTED_PROXY_COUNT = 1
    return settings


def test_axes_asks_us_for_the_client_address_and_locks_out_by_user_and_address():
    assert settings.AXES_CLIENT_IP_CALLABLE == "embassy.client_address.client_address"
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]


def test_without_a_trusted_proxy_the_header_is_ignored(settings):
    settings.TRUST_FORWARDED_HEADERS = False
    assert _address(ATTACKER) == PROXY
    assert _address(None) == PROXY


def test_behind_one_proxy_the_address_it_wrote_is_the_client(behind_proxy):
    assert _address(STAFF_MEMBER) == STAFF_MEMBER
    # What a client writes itself stays on the left, and is not believed.
    assert _address(f"{STAFF_MEMBER}, {ATTACKER}") == ATTACKER
    assert _address(f" 1.2.3.4 ,{STAFF_MEMBER} ,") == STAFF_MEMBER
    assert _address("2001:db8::7") == "2001:db8::7"


def test_behind_two_proxies_the_outer_ones_address_is_the_client(behind_proxy):
    behind_proxy.TRUSTED_PROXY_COUNT = 2
    assert _address(f"{ATTACKER}, {STAFF_MEMBER}, 10.0.0.9") == STAFF_MEMBER
    # Fewer addresses than proxies: the request did not come through them all.
    assert _address("10.0.0.9") == PROXY


def test_a_header_that_is_not_an_address_is_not_believed(behind_proxy):
    assert _address("unknown") == PROXY
    assert _address("") == PROXY
    assert _address(None) == PROXY
    assert _address("198.51.100.7:4711") == PROXY


def test_trusted_proxy_count_needs_trust_forwarded_headers():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "embassy.settings.local", "TRUSTED_PROXY_COUNT": "2"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "TRUSTED_PROXY_COUNT is set but TRUST_FORWARDED_HEADERS is not true" in result.stderr


# --- signing in through the proxy ----------------------------------------------------------


def _sign_in(username: str, forwarded_for: str, password: str = TEST_PASSWORD):  # type: ignore[no-untyped-def]
    client = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded_for, HTTP_X_FORWARDED_PROTO="https")
    return client.post(LOGIN, {"username": username, "password": password, "otp_token": ""}), client


@pytest.mark.django_db
def test_an_attacker_elsewhere_locks_out_only_themselves(behind_proxy, author):
    for _ in range(settings.AXES_FAILURE_LIMIT + 2):  # more failures: the attacker's cool-off only
        _sign_in(author.username, ATTACKER, password="guessing the password")
    refused, _client = _sign_in(author.username, ATTACKER)
    assert refused.status_code == 429  # locked, even with the right password
    # Writing the staff member's address into the header does not borrow it.
    spoofed, _client = _sign_in(author.username, f"{STAFF_MEMBER}, {ATTACKER}")
    assert spoofed.status_code == 429

    signed_in, client = _sign_in(author.username, STAFF_MEMBER)
    assert signed_in.status_code == 302
    assert int(client.session["_auth_user_id"]) == author.pk


@pytest.mark.django_db
def test_a_staff_member_who_mistypes_is_locked_out_from_their_own_address(behind_proxy, author):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(author.username, STAFF_MEMBER, password="mistyped")
    assert _sign_in(author.username, STAFF_MEMBER)[0].status_code == 429
    assert _sign_in(author.username, "192.0.2.10")[0].status_code == 302  # from another address: not locked


@pytest.mark.django_db
def test_unlocking_a_user_name_lets_them_in_again(behind_proxy, author):
    from django.core.management import call_command

    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(author.username, STAFF_MEMBER, password="mistyped")
    assert _sign_in(author.username, STAFF_MEMBER)[0].status_code == 429
    call_command("axes_reset_username", author.username, stdout=None)
    assert _sign_in(author.username, STAFF_MEMBER)[0].status_code == 302
