"""Redis down (the cache and the broker at a closed port): every page a citizen takes
still works. The rate limits fail open, each process says so in one warning a minute,
and no log line names a phone number or an email address."""

from __future__ import annotations

import logging

import pytest
from django.test import Client

from alerts.models import CheckIn
from alerts.services.links import check_in_url, unsubscribe_url
from registrations import ratelimit
from registrations.models import Citizen, Verification
from tests.factories import AlertFactory, CitizenFactory
from tests.registrations.conftest import last_code, last_link, valid_form

pytestmark = pytest.mark.django_db

PHONE = "+93701234567"
EMAIL = "sara@example.org"
CONTACT_TRACES = ("701234567", "70 123 4567", "sara@", "example.org")


@pytest.fixture
def client(client, django_capture_on_commit_callbacks):
    """The test client, running what a request queues after its commit (the publish of a
    code, as in production) before its response comes back."""

    class Committing:
        def __getattr__(self, name):
            method = getattr(client, name)
            if name not in ("get", "post"):
                return method

            def call(*args, **kwargs):
                with django_capture_on_commit_callbacks(execute=True):
                    return method(*args, **kwargs)

            return call

    return Committing()


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_no_contact_in(logs) -> None:
    for record in logs.records:
        line = record.getMessage() + (logs.text if record.exc_info else "")
        for trace in CONTACT_TRACES:
            assert trace not in line, f"{record.name} logged a contact: {line!r}"


def rate_limit_warnings(logs) -> list[str]:
    return [r.getMessage() for r in logs.records if r.name == "registrations.ratelimit" and r.levelname == "WARNING"]


def test_registering_works_with_redis_down(client, redis_down, logs):
    response = client.post("/", valid_form())
    assert response.status_code == 302
    citizen = Citizen.objects.get()
    assert (citizen.phone, citizen.email) == (PHONE, EMAIL)
    assert citizen.presences.count() == 1 and citizen.household.count() == 2
    assert Verification.objects.filter(citizen=citizen).count() == 2
    assert client.get(response["Location"]).status_code == 200  # the code page
    assert_no_contact_in(logs)


def test_the_rate_limits_count_in_memory_with_one_warning_a_minute(client, redis_down, settings, logs):
    # Nobody waits for the dead cache, and nobody gets an open door either: an outage of
    # Redis is no chance to make the embassy text any number of phones.
    settings.REGISTRATION_RATE_PER_CLIENT = (5, 3600)
    settings.REGISTRATION_RATE_PER_ADDRESS = (1, 3600)

    def register(phone: str) -> int:
        return client.post("/", valid_form(**{"contact-phone": phone, "contact-email": ""})).status_code

    assert [register(f"+93 70 123 45{i:02d}") for i in range(3)] == [302, 302, 302]
    assert register("+93 70 123 4500") == 429  # the same number again: its limit
    assert register("+93 70 123 4590") == 302  # the client's fifth
    assert register("+93 70 123 4591") == 429  # the client's limit
    assert Citizen.objects.count() == 4
    (warning,) = rate_limit_warnings(logs)
    assert "unreachable" in warning and "memory" in warning
    assert_no_contact_in(logs)


def test_the_memory_keeps_a_bounded_number_of_keys():
    limits = ratelimit.LocalLimits(max_keys=3)
    for key in "abcd":
        assert limits.hit("g", key, (1, 3600)) is False
    assert limits.hit("g", "a", (1, 3600)) is False  # forgotten: the oldest went first
    assert limits.hit("g", "d", (1, 3600)) is True


def test_the_limits_count_again_once_the_cache_answers(client, redis_outage, settings, logs, monkeypatch):
    monkeypatch.setattr(ratelimit.cache_outage, "retry_after", 0.0)
    # The settings fixture, not override_settings: the outage changes settings too, and
    # the two undone out of order left this limit set for the tests after this one.
    settings.REGISTRATION_RATE_PER_CLIENT = (2, 3600)
    redis_outage.down()
    assert client.post("/", valid_form(**{"contact-email": ""})).status_code == 302
    redis_outage.up()
    for i in range(2):
        data = valid_form(**{"contact-phone": f"+93 70 123 45{i:02d}", "contact-email": ""})
        assert client.post("/", data).status_code == 302
    assert client.post("/", valid_form(**{"contact-phone": "+93 70 123 4599"})).status_code == 429


def test_a_process_warns_once_a_minute_and_says_when_the_service_answers_again(monkeypatch, logs):
    from embassy.breaker import OutageBreaker

    clock = [1000.0]
    monkeypatch.setattr("embassy.breaker.time.monotonic", lambda: clock[0])
    breaker = OutageBreaker(logging.getLogger("test.breaker"), "cache", "limits off", retry_after=10)
    breaker.failed(ConnectionError("refused"))
    assert not breaker.available()
    for _ in range(4):
        breaker.skipped()
    clock[0] += 10
    assert breaker.available()
    breaker.failed(ConnectionError("refused"))  # still down: no second line within the minute
    clock[0] += 51
    breaker.failed(ConnectionError("refused"))
    clock[0] += 10
    breaker.answered()
    breaker.answered()
    lines = [r.getMessage() for r in logs.records if r.name == "test.breaker"]
    assert lines == [
        "cache unreachable (ConnectionError): limits off; 1 request(s) did without it since this process last said so",
        "cache unreachable (ConnectionError): limits off; 6 request(s) did without it since this process last said so",
        "cache answers again (0 request(s) did without it before)",
    ]


def test_a_code_is_accepted_with_redis_down(client, register, redis_outage, logs):
    pending = register(valid_form())["Location"]
    code = last_code(PHONE)
    redis_outage.down()
    assert client.post(pending, {"code": "000000" if code != "000000" else "111111"}).status_code == 400
    assert client.post(pending, {"code": code, "action": "verify"}).status_code == 302
    assert client.get(last_link(EMAIL)).status_code == 302  # the email link too
    citizen = Citizen.objects.get()
    assert citizen.phone_verified_at and citizen.email_verified_at
    assert_no_contact_in(logs)


def test_a_new_code_can_be_asked_for_with_redis_down(client, register, redis_outage, logs):
    pending = register(valid_form(**{"contact-email": ""}))["Location"]
    first = Verification.objects.get()
    redis_outage.down()
    response = client.post(pending, {"action": "resend"})
    assert response.status_code == 302
    assert client.get(response["Location"]).status_code == 200
    first.refresh_from_db()
    fresh = Verification.objects.exclude(pk=first.pk).get()
    assert fresh.address == PHONE and fresh.expires_at > first.expires_at  # the old one stopped working
    assert_no_contact_in(logs)


def test_a_self_service_link_can_be_asked_for_with_redis_down(client, redis_down, logs):
    CitizenFactory(phone=PHONE, email=EMAIL)
    for contact in (EMAIL, PHONE, "nobody@example.org"):
        response = client.post("/manage/", {"contact": contact})
        assert response.status_code == 200
        assert "Check your messages" in response.content.decode()
    assert_no_contact_in(logs)


def test_the_pages_behind_personal_links_work_with_redis_down(client, redis_down, logs):
    citizen = CitizenFactory(phone=PHONE, email=EMAIL)
    alert = AlertFactory()
    check_in = check_in_url(citizen, alert).removeprefix("http://testserver")
    assert client.get(check_in).status_code == 200
    assert Client().post(check_in, {"answer": "safe"}).status_code == 302
    assert CheckIn.objects.get().status == CheckIn.Status.SAFE
    unsubscribe = unsubscribe_url(citizen, EMAIL).removeprefix("http://testserver")
    assert client.get(unsubscribe).status_code == 200
    assert Client().post(unsubscribe).status_code == 200
    citizen.refresh_from_db()
    assert citizen.email_opted_out_at is not None
    from registrations.services import manage_url

    manage = manage_url(citizen).removeprefix("http://testserver")
    assert client.get(manage).status_code == 200
    assert client.get("/").status_code == 200  # the form itself
    assert_no_contact_in(logs)


def test_with_redis_down_the_manage_link_page_says_a_link_will_come_the_same_for_anyone(
    client, redis_down, settings, logs
):
    # The link is kept for later, as codes are (tests/registrations/test_manage_links_kept.py);
    # the page says it will come once messages go again, instead of "we have sent it",
    # and says it alike whether the contact is registered.
    settings.REDIS_URL = redis_down.url
    CitizenFactory(phone=PHONE, email=EMAIL)
    pages = set()
    for contact in (EMAIL, PHONE, "nobody@example.org"):
        response = client.post("/manage/", {"contact": contact})
        html = response.content.decode()
        assert response.status_code == 200 and "will be sent to it as soon as" in html
        assert "we have sent it" not in html and "no link could be sent" not in html
        pages.add(html.split("<main", 1)[-1])
    assert len(pages) == 1
    assert_no_contact_in(logs)
