"""Check-in links: GET shows the answers and changes nothing; POST records the check-in."""

from __future__ import annotations

import pytest
from django.test import Client

from alerts.models import CheckIn
from alerts.services.links import check_in_url
from tests.factories import AlertFactory, AlertTextFactory, CitizenFactory

pytestmark = pytest.mark.django_db


def _path(url: str) -> str:
    return url.removeprefix("http://testserver")


def test_get_shows_three_big_answers_and_records_nothing(client) -> None:
    citizen = CitizenFactory()
    alert = AlertFactory(title="Leave Kabul by road today")
    AlertTextFactory(alert=alert, email_subject="Leave Kabul by road today")
    response = client.get(_path(check_in_url(citizen, alert)))
    assert response.status_code == 200
    page = response.content.decode()
    for label in ("I am safe", "I need assistance", "I have left"):
        assert f">{label}</button>" in page
    assert 'name="answer" value="safe"' in page
    assert "Leave Kabul by road today" in page
    assert "<script" not in page  # works without JavaScript
    assert not CheckIn.objects.exists()


def test_a_link_with_a_status_shows_one_confirm_button_and_records_nothing(client) -> None:
    citizen = CitizenFactory()
    url = check_in_url(citizen, status=CheckIn.Status.NEEDS_ASSISTANCE)
    assert url.endswith("/assistance/")
    response = client.get(_path(url))
    page = response.content.decode()
    assert response.status_code == 200
    assert page.count('class="answer-') == 1  # one prominent confirm button
    assert "Confirm:" in page and "I need assistance" in page
    assert not CheckIn.objects.exists()


def test_post_records_the_check_in_from_the_link_without_cookies() -> None:
    citizen = CitizenFactory()
    alert = AlertFactory()
    browser = Client(enforce_csrf_checks=True)
    response = browser.post(_path(check_in_url(citizen, alert)), {"answer": "safe"})
    assert response.status_code == 302
    check_in = CheckIn.objects.get()
    assert (check_in.citizen, check_in.status, check_in.source, check_in.alert) == (
        citizen,
        CheckIn.Status.SAFE,
        CheckIn.Source.LINK,
        alert,
    )
    thanks = browser.get(response["Location"])
    assert "We have recorded" in thanks.content.decode()
    assert CheckIn.objects.count() == 1  # the thank-you page records nothing


def test_confirming_a_status_link_records_that_status() -> None:
    citizen = CitizenFactory()
    path = _path(check_in_url(citizen, status=CheckIn.Status.DEPARTED))
    page = Client().get(path).content.decode()
    assert 'name="answer" value="left"' in page
    Client(enforce_csrf_checks=True).post(path, {"answer": "left"})
    assert CheckIn.objects.get().status == CheckIn.Status.DEPARTED


def test_a_post_without_an_answer_records_nothing_and_asks_again() -> None:
    citizen = CitizenFactory()
    response = Client().post(_path(check_in_url(citizen)), {"answer": "maybe"})
    assert response.status_code == 400
    assert "choose one of the answers" in response.content.decode()
    assert not CheckIn.objects.exists()


def test_a_tampered_or_expired_link_records_nothing(settings) -> None:
    citizen = CitizenFactory()
    path = _path(check_in_url(citizen))
    tampered = path[:-4] + "xyz/"
    assert Client().post(tampered, {"answer": "safe"}).status_code == 404
    settings.CHECK_IN_LINK_MAX_AGE_SECONDS = -1  # every link is now too old
    response = Client().post(path, {"answer": "safe"})
    assert response.status_code == 404
    assert not CheckIn.objects.exists()


def test_an_unknown_status_in_the_url_is_not_found(client) -> None:
    citizen = CitizenFactory()
    path = _path(check_in_url(citizen)) + "maybe/"
    assert client.get(path).status_code == 404
