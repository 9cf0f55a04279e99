"""The situation page and the accountability board count people, not rows."""

from __future__ import annotations

import csv
import datetime
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from alerts.console.queries import board_tally, citizens_in
from alerts.models import AuditEntry, CheckIn
from registrations.models import HouseholdMember
from tests.factories import AreaFactory, CheckInFactory, CitizenFactory, PresenceFactory

pytestmark = pytest.mark.django_db


def check_in(citizen, status, minutes_ago):  # type: ignore[no-untyped-def]
    row = CheckInFactory(citizen=citizen, status=status)
    CheckIn.objects.filter(pk=row.pk).update(created_at=timezone.now() - datetime.timedelta(minutes=minutes_ago))
    return row


def household(citizen, size):  # type: ignore[no-untyped-def]
    for n in range(size):
        HouseholdMember.objects.create(
            citizen=citizen, full_name=f"Member {n}", relationship="child", age_group="child"
        )


@pytest.fixture
def kabul():  # type: ignore[no-untyped-def]
    """Afghanistan at level 4 with Kabul as a region; five citizens, eleven people.

    - Sara (+2 household): said safe, then needs assistance -> needs assistance
    - Omid (+3): safe
    - Lina (alone): departed, later safe -> safe
    - Farid (+1): no answer; holds two presences in Kabul (counted once)
    - Nadia (alone): in Herat region, no answer
    - Karim: ended presence in Kabul -> not present
    - Ahmad: presence only in the future -> not present
    """
    country = AreaFactory(country="AF", region="", name="Afghanistan", level=4, level_changed_at=timezone.now())
    region = AreaFactory(country="AF", region="AF-KAB", name="Kabul", level=None)
    people = {}
    for name, size in (("Sara", 2), ("Omid", 3), ("Lina", 0), ("Farid", 1)):
        citizen = CitizenFactory(full_name=name)
        household(citizen, size)
        PresenceFactory(citizen=citizen)
        people[name] = citizen
    PresenceFactory(citizen=people["Farid"], city="Kabul airport")
    nadia = CitizenFactory(full_name="Nadia")
    PresenceFactory(citizen=nadia, region="AF-HER", city="Herat")
    people["Nadia"] = nadia
    karim = CitizenFactory(full_name="Karim")
    PresenceFactory(citizen=karim, ended_at=timezone.now())
    ahmad = CitizenFactory(full_name="Ahmad")
    PresenceFactory(citizen=ahmad, arrival_date=timezone.localdate() + datetime.timedelta(days=10))
    check_in(people["Sara"], CheckIn.Status.SAFE, 60)
    check_in(people["Sara"], CheckIn.Status.NEEDS_ASSISTANCE, 5)
    check_in(people["Omid"], CheckIn.Status.SAFE, 30)
    check_in(people["Lina"], CheckIn.Status.DEPARTED, 50)
    check_in(people["Lina"], CheckIn.Status.SAFE, 10)
    check_in(karim, CheckIn.Status.NEEDS_ASSISTANCE, 1)
    return {"country": country, "region": region, **people}


def test_the_board_counts_citizens_and_people_and_the_latest_check_in_wins(kabul):
    tally = board_tally(kabul["region"])
    assert (tally.citizens, tally.people) == (4, 4 + 6)
    assert tally.by_status["safe"] == (2, 2 + 3)  # Omid(+3) and Lina
    assert tally.by_status["needs_assistance"] == (1, 3)  # Sara(+2)
    assert tally.by_status["departed"] == (0, 0)  # Lina said safe after departed
    assert tally.by_status["no_answer"] == (1, 2)  # Farid(+1), once despite two presences


def test_a_country_area_counts_everyone_in_its_regions(kabul):
    tally = board_tally(kabul["country"])
    assert (tally.citizens, tally.people) == (5, 11)
    assert tally.by_status["no_answer"] == (2, 3)


def test_answers_before_since_count_as_no_answer(kabul):
    tally = board_tally(kabul["region"], since=timezone.now() - datetime.timedelta(minutes=20))
    assert tally.by_status["needs_assistance"] == (1, 3)
    assert tally.by_status["safe"] == (1, 1)  # only Lina's answer is recent
    assert tally.by_status["no_answer"] == (2, 6)  # Omid and Farid


def test_the_situation_page_shows_every_area_with_its_effective_level_and_counts(kabul, author_client):
    AreaFactory(country="PK", region="", name="Pakistan", level=2)
    response = author_client.get(reverse("console:situation"))
    assert response.status_code == 200
    rows = {row["area"].name: row for row in response.context["rows"]}
    assert set(rows) == {"Afghanistan", "Kabul", "Pakistan"}
    assert rows["Kabul"]["area"].effective == 4  # inherited from Afghanistan
    assert (rows["Kabul"]["tally"].citizens, rows["Kabul"]["tally"].people) == (4, 10)
    assert (rows["Afghanistan"]["tally"].citizens, rows["Afghanistan"]["tally"].people) == (5, 11)
    assert rows["Afghanistan"]["tally"].by_status["needs_assistance"] == (1, 3)
    assert rows["Pakistan"]["tally"].citizens == 0
    assert response.context["totals"] == {"citizens": 5, "people": 11}


def test_recently_changed_areas_come_first(kabul, author_client):
    old = timezone.now() - datetime.timedelta(days=30)
    AreaFactory(country="PK", region="", name="Pakistan", level=3, level_changed_at=old)
    AreaFactory(country="IR", region="", name="Iran", level=2, level_changed_at=timezone.now())
    names = [row["area"].name for row in author_client.get(reverse("console:situation")).context["rows"]]
    assert names.index("Iran") < names.index("Pakistan")
    assert names.index("Afghanistan") < names.index("Pakistan")
    assert names[-1] == "Pakistan"


def test_the_situation_page_filters_by_level_and_country(kabul, author_client):
    AreaFactory(country="PK", region="", name="Pakistan", level=2)
    by_level = author_client.get(reverse("console:situation"), {"level": "4"}).context["rows"]
    assert {row["area"].name for row in by_level} == {"Afghanistan", "Kabul"}
    by_country = author_client.get(reverse("console:situation"), {"country": "PK"}).context["rows"]
    assert [row["area"].name for row in by_country] == ["Pakistan"]


def test_the_situation_page_makes_the_same_number_of_queries_however_many_areas(kabul, author_client):
    url = reverse("console:situation")
    author_client.get(url)
    with CaptureQueriesContext(connection) as few:
        author_client.get(url)
    for code in ("PK", "IR", "IQ", "SY", "YE", "LY"):
        AreaFactory(country=code, region="", name=code, level=3)
        PresenceFactory(country=code, region="", city="x")
    with CaptureQueriesContext(connection) as many:
        author_client.get(url)
    assert len(many.captured_queries) == len(few.captured_queries)


def test_the_board_page_lists_who_needs_assistance_with_their_contacts(kabul, author_client):
    url = reverse("console:board", args=[kabul["region"].pk])
    page = author_client.get(url, {"list": "needs_assistance"})
    body = page.content.decode()
    assert page.status_code == 200
    assert "Sara" in body and kabul["Sara"].phone in body and kabul["Sara"].email in body
    assert "Omid" not in body


def test_the_board_lists_of_other_statuses_leave_out_contact_details(kabul, author_client):
    page = author_client.get(reverse("console:board", args=[kabul["region"].pk]), {"list": "safe"})
    body = page.content.decode()
    assert "Omid" in body and "Lina" in body
    assert kabul["Omid"].phone not in body


def test_the_board_csv_export_holds_the_list_and_is_audited(kabul, author_client, author):
    response = author_client.get(reverse("console:board-csv", args=[kabul["region"].pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    by_name = {row["full_name"]: row for row in rows}
    assert set(by_name) == {"Sara", "Omid", "Lina", "Farid"}
    assert by_name["Sara"]["status"] == "needs_assistance"
    assert by_name["Sara"]["phone"] == kabul["Sara"].phone
    assert by_name["Sara"]["household_size"] == "2"
    assert by_name["Farid"]["status"] == "no_answer"
    assert by_name["Omid"]["phone"] == ""
    entry = AuditEntry.objects.get(action="export_board_csv", actor=author)
    assert entry.object_id == str(kabul["region"].pk)
    assert entry.after["rows"] == 4


def test_the_board_csv_export_of_one_list_and_formula_like_names_are_neutralised(kabul, author_client):
    sara = kabul["Sara"]
    sara.full_name = '=HYPERLINK("http://evil")'
    sara.save()
    response = author_client.get(reverse("console:board-csv", args=[kabul["region"].pk]), {"list": "needs_assistance"})
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == 1
    assert rows[0]["full_name"].startswith("'=")


def test_citizens_in_an_area_carry_household_size_and_latest_status(kabul):
    people = {c.full_name: c for c in citizens_in(kabul["region"])}
    assert people["Sara"].household_size == 2
    assert people["Sara"].status == "needs_assistance"
    assert people["Farid"].status is None
