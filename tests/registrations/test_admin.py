from __future__ import annotations

import pytest
from django.utils import timezone

from registrations.models import Citizen, Presence

pytestmark = pytest.mark.django_db


@pytest.fixture
def citizens():
    now = timezone.now()
    kabul = Citizen.objects.create(
        full_name="Farid Kabuli", phone="+93701111111", phone_verified_at=now, consent_at=now
    )
    Presence.objects.create(citizen=kabul, country="AF", region="AF-KAB", city="Kabul", lives_here=True)
    paris = Citizen.objects.create(full_name="Afa Dupont", email="afa@example.fr", consent_at=now)
    Presence.objects.create(citizen=paris, country="FR", city="Paris", lives_here=True)
    tehran = Citizen.objects.create(full_name="Nadia Rahimi", email="nadia@example.org", consent_at=now)
    Presence.objects.create(citizen=tehran, country="IR", region="IR-07", lives_here=True)
    return kabul, paris


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Farid", ["Farid Kabuli"]),
        ("+93701111111", ["Farid Kabuli"]),
        ("afa@example.fr", ["Afa Dupont"]),
        ("IR", ["Nadia Rahimi"]),
        ("AF-KAB", ["Farid Kabuli"]),
    ],
)
def test_staff_find_citizens_by_name_phone_email_and_country(admin_client, citizens, query, expected):
    response = admin_client.get("/admin/registrations/citizen/", {"q": query})
    assert response.status_code == 200
    found = [c.full_name for c in response.context["cl"].result_list]
    assert found == expected


def test_citizens_cannot_be_added_or_edited_in_the_admin(admin_client, citizens):
    kabul, _ = citizens
    assert admin_client.get("/admin/registrations/citizen/add/").status_code == 403
    admin_client.post(f"/admin/registrations/citizen/{kabul.pk}/change/", {"full_name": "Changed"})
    kabul.refresh_from_db()
    assert kabul.full_name == "Farid Kabuli"
