"""Administrators edit the advisory templates and add areas; nobody else can."""

from __future__ import annotations

import pytest

from alerts.models import AlertTemplate, Area, AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(administrator, signed_in):
    return signed_in(administrator)


def test_only_administrators_reach_the_setup_pages(author_client, approver_client, admin_client):
    for path in ("/console/templates/", "/console/templates/4/en/", "/console/areas/"):
        assert author_client.get(path).status_code == 403
        assert approver_client.get(path).status_code == 403
        assert admin_client.get(path).status_code == 200


def test_an_administrator_writes_a_template_and_it_is_audited(admin_client):
    response = admin_client.post(
        "/console/templates/4/fa/",
        {
            "sms_text": "فوری {area}: همین حالا خارج شوید. {checkin_words}",
            "email_subject": "فوری {area}",
            "email_body": "{name} گرامی، {checkin_link}",
        },
    )
    assert response.status_code == 302
    template = AlertTemplate.objects.get(level=4, language="fa")
    assert template.sms_text.startswith("فوری {area}")
    entry = AuditEntry.objects.get(action="edit_template")
    assert entry.before is None and "sms_text" in entry.after


def test_a_template_with_an_unknown_placeholder_is_refused_when_saved(admin_client):
    response = admin_client.post(
        "/console/templates/3/en/",
        {"sms_text": "Leave {areaa} now", "email_subject": "x", "email_body": "y"},
    )
    assert response.status_code == 400
    assert "Unknown placeholder" in response.content.decode()
    assert not AlertTemplate.objects.exists()
    assert not AuditEntry.objects.filter(action="edit_template").exists()


def test_an_unknown_level_or_language_is_not_found(admin_client):
    assert admin_client.get("/console/templates/9/en/").status_code == 404
    assert admin_client.get("/console/templates/4/xx/").status_code == 404


def test_an_administrator_adds_a_region_that_inherits_its_country_level(admin_client):
    Area.objects.create(country="AF", region="", name="Afghanistan", level=3)
    response = admin_client.post("/console/areas/", {"country": "AF", "region": "af-bal", "name": "", "level": ""})
    assert response.status_code == 302
    area = Area.objects.get(region="AF-BAL")
    assert area.level is None and area.effective_level == 3
    assert area.name == "Balkh"
    assert AuditEntry.objects.filter(action="create_area").count() == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"country": "AF", "region": "IR-07", "level": ""}, "is not a region of the chosen country"),
        ({"country": "PK", "region": "", "level": ""}, "A country needs a level"),
    ],
)
def test_bad_areas_are_refused_with_a_reason(admin_client, data, message):
    response = admin_client.post("/console/areas/", {"name": "", **data})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Area.objects.exists()


def test_a_duplicate_area_is_refused(admin_client):
    Area.objects.create(country="PK", region="", name="Pakistan", level=3)
    response = admin_client.post("/console/areas/", {"country": "PK", "region": "", "name": "", "level": "2"})
    assert response.status_code == 400
    assert "exists already" in response.content.decode()
    assert Area.objects.get().level == 3


def test_an_area_gets_its_names_in_other_languages_when_added_and_later(admin_client):
    response = admin_client.post(
        "/console/areas/", {"country": "AF", "region": "AF-JOW", "name": "", "level": "", "name_fa": " جوزجان "}
    )
    assert response.status_code == 302
    area = Area.objects.get(region="AF-JOW")
    assert area.local_names == {"fa": "جوزجان"}  # empty languages left out, spaces trimmed
    page = admin_client.get("/console/areas/").content.decode()
    assert "جوزجان" in page and f"/console/areas/{area.pk}/names/" in page

    response = admin_client.post(f"/console/areas/{area.pk}/names/", {"name_fa": "جوزجان", "name_ps": "جوزجان ولایت"})
    assert response.status_code == 302
    area.refresh_from_db()
    assert area.local_names == {"fa": "جوزجان", "ps": "جوزجان ولایت"}
    entry = AuditEntry.objects.get(action="edit_area_names")
    assert entry.before == {"local_names": {"fa": "جوزجان"}}
    assert entry.after == {"local_names": {"fa": "جوزجان", "ps": "جوزجان ولایت"}}
    assert area.name_in("ps") == "جوزجان ولایت" and area.name_in("en") == area.name == "Jowzjān"


def test_an_area_s_names_page_refuses_a_name_too_long_and_keeps_the_rest(admin_client):
    area = Area.objects.create(country="AF", region="AF-NIM", name="Nimruz", local_names={"fa": "نیمروز"})
    response = admin_client.post(f"/console/areas/{area.pk}/names/", {"name_fa": "x" * 121, "name_ps": "نیمروز"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "error-summary" in page and "نیمروز" in page
    area.refresh_from_db()
    assert area.local_names == {"fa": "نیمروز"}
    assert admin_client.get("/console/areas/999999/names/").status_code == 404


def test_only_administrators_edit_an_area_s_names(author_client, approver_client):
    area = Area.objects.create(country="AF", region="AF-KAB", name="Kabul")
    for client in (author_client, approver_client):
        assert client.post(f"/console/areas/{area.pk}/names/", {"name_fa": "کابل"}).status_code == 403
    area.refresh_from_db()
    assert area.local_names == {}
