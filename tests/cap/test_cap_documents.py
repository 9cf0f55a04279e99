"""Every alert we export is a CAP 1.2 document the OASIS schema accepts, with the right values.

The schema is ``CAP-v1.2.xsd`` in the shared contracts folder beside this repository
(``../shared/contracts``, as CI's clean clone has it).
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import xmlschema
from django.test import override_settings
from django.utils import translation

from alerts.levels import level_name
from alerts.models import Alert, AlertText
from alerts.services.cap import NAMESPACE, cap_time, cap_xml, identifier
from tests.factories import AlertFactory, AreaFactory

pytestmark = pytest.mark.django_db

CONTRACTS = Path(__file__).resolve().parents[2].parent / "shared" / "contracts"
NS = {"cap": NAMESPACE}
APPROVED = datetime.datetime(2021, 8, 15, 10, 0, 0, 123456, tzinfo=datetime.UTC)
S = Alert.State


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(CONTRACTS / "CAP-v1.2.xsd")


@pytest.fixture
def areas():  # type: ignore[no-untyped-def]
    return {
        "afghanistan": AreaFactory(
            country="AF", region="", name="Afghanistan", local_names={"fa": "افغانستان"}, level=3
        ),
        "kabul": AreaFactory(country="AF", region="AF-KAB", name="Kabul", local_names={"fa": "کابل"}, level=4),
        "jowzjan": AreaFactory(country="AF", region="AF-JOW", name="Jowzjan", level=None),
    }


def approved(**fields):  # type: ignore[no-untyped-def]
    defaults = {"state": S.SENT, "is_test": False, "approved_at": APPROVED}
    return AlertFactory(**(defaults | fields))


def text(alert, language="en", **fields):  # type: ignore[no-untyped-def]
    return AlertText.objects.create(alert=alert, language=language, **fields)


def document(schema, alert) -> ET.Element:  # type: ignore[no-untyped-def]
    raw = cap_xml(alert)
    assert raw.startswith(b"<?xml")
    schema.validate(raw.decode())  # raises with the schema's reason when it does not
    return ET.fromstring(raw)


def value(element: ET.Element, path: str) -> str | None:
    found = element.find(path, NS)
    return None if found is None else found.text


def values(element: ET.Element, path: str) -> list[str | None]:
    return [found.text for found in element.findall(path, NS)]


@override_settings(
    CAP_SENDER="alerts@embassy.example", EMAIL_FROM_NAME="Embassy of Example", PUBLIC_BASE_URL="https://alerts.example"
)
def test_a_plain_live_alert_is_a_valid_actual_public_alert(schema, areas):
    alert = approved(
        advisory_level=4,
        category="Security",
        urgency="Immediate",
        severity="Extreme",
        certainty="Observed",
        response_type="Evacuate",
    )
    alert.areas.set([areas["kabul"]])
    text(
        alert,
        sms_text="{area}: level {level}, {level_name}. Leave now. {checkin_words}",
        email_subject="{area}: leave now",
        email_body="Dear {name},\n\nlevel {level} ({level_name}) for {area}. Go to the airport.\n\n"
        "Tell us how you are: {checkin_link}\n\nStop these emails: {unsubscribe_link}",
    )
    root = document(schema, alert)
    assert value(root, "cap:identifier") == f"alerts@embassy.example:alert:{alert.pk}" == identifier(alert)
    assert value(root, "cap:sender") == "alerts@embassy.example"
    assert value(root, "cap:sent") == "2021-08-15T10:00:00+00:00"  # no fraction, no "Z"
    assert value(root, "cap:status") == "Actual"
    assert value(root, "cap:msgType") == "Alert"
    assert value(root, "cap:scope") == "Public"
    assert root.find("cap:references", NS) is None
    [info] = root.findall("cap:info", NS)
    assert value(info, "cap:language") == "en"
    assert value(info, "cap:category") == "Security"
    assert value(info, "cap:event") == "Travel advisory level 4: Do not travel"
    assert value(info, "cap:responseType") == "Evacuate"
    assert (value(info, "cap:urgency"), value(info, "cap:severity"), value(info, "cap:certainty")) == (
        "Immediate",
        "Extreme",
        "Observed",
    )
    assert info.find("cap:expires", NS) is None
    assert value(info, "cap:senderName") == "Embassy of Example"
    assert value(info, "cap:headline") == "Kabul: leave now"
    # Nothing personal: no name, no personal link nor its label, no SMS reply words.
    assert value(info, "cap:description") == "level 4 (Do not travel) for Kabul. Go to the airport."
    assert value(info, "cap:web") == "https://alerts.example/"
    [area] = info.findall("cap:area", NS)
    assert value(area, "cap:areaDesc") == "Kabul"
    assert area.find("cap:circle", NS) is None
    assert values(area, "cap:geocode/cap:valueName") == ["ISO 3166-2"]
    assert values(area, "cap:geocode/cap:value") == ["AF-KAB"]


def test_a_whole_country_is_geocoded_by_its_iso_3166_1_code_and_regions_by_3166_2(schema, areas):
    alert = approved()
    alert.areas.set([areas["afghanistan"], areas["jowzjan"]])
    text(alert, sms_text="Stay alert in {area}.")
    area = document(schema, alert).find("cap:info/cap:area", NS)
    assert value(area, "cap:areaDesc") == "Afghanistan, Jowzjan"
    geocodes = [
        (g.find("cap:valueName", NS).text, g.find("cap:value", NS).text) for g in area.findall("cap:geocode", NS)
    ]
    assert geocodes == [("ISO 3166-1", "AF"), ("ISO 3166-2", "AF-JOW")]


def test_an_update_and_a_cancel_reference_the_alert_they_correct(schema, areas):
    original = approved()
    original.areas.set([areas["kabul"]])
    text(original, sms_text="Leave Kabul.")
    later = APPROVED + datetime.timedelta(hours=2)
    update = approved(msg_type="Update", references=original, approved_at=later)
    update.areas.set([areas["kabul"]])
    text(update, sms_text="Leave Kabul by the northern gate.")
    cancel = approved(msg_type="Cancel", references=original, approved_at=later, response_type="None")
    cancel.areas.set([areas["kabul"]])
    text(
        cancel,
        sms_text="CANCELLED: please disregard our alert.",
        email_body="Dear {name},\n\nplease disregard.\n\n{checkin_link}",
    )
    expected = f"alerts@embassy.example,{identifier(original)},2021-08-15T10:00:00+00:00"
    for correction, kind in ((update, "Update"), (cancel, "Cancel")):
        root = document(schema, correction)
        assert value(root, "cap:msgType") == kind
        assert value(root, "cap:references") == expected
        assert value(root, "cap:sent") == "2021-08-15T12:00:00+00:00"
        assert value(root, "cap:identifier") != identifier(original)
    cancel_info = document(schema, cancel).find("cap:info", NS)
    assert value(cancel_info, "cap:responseType") == "None"
    assert value(cancel_info, "cap:headline") == "CANCELLED: please disregard our alert."
    assert value(cancel_info, "cap:description") == "please disregard."


def test_a_correction_of_an_alert_never_approved_is_refused(areas):
    original = AlertFactory(state=S.CANCELLED)
    update = approved(msg_type="Update", references=original)
    with pytest.raises(ValueError, match="never approved"):
        cap_xml(update)


def test_a_radius_alert_has_a_circle_and_names_the_place(schema):
    alert = approved(
        center_latitude=Decimal("34.565000"),
        center_longitude=Decimal("69.212500"),
        radius_km=Decimal("25.00"),
        center_name="Hamid Karzai International Airport",
    )
    text(alert, sms_text="Avoid the airport area: {area}.")
    root = document(schema, alert)
    area = root.find("cap:info/cap:area", NS)
    assert value(area, "cap:circle") == "34.565,69.2125 25"
    assert value(area, "cap:areaDesc") == "within 25 km of Hamid Karzai International Airport"
    assert area.find("cap:geocode", NS) is None
    assert value(root, "cap:info/cap:description") == "Avoid the airport area: Hamid Karzai International Airport."


def test_a_radius_without_a_place_name_is_described_by_its_centre(schema, areas):
    alert = approved(center_latitude=Decimal("36.7"), center_longitude=Decimal("65.75"), radius_km=Decimal("12.5"))
    alert.areas.set([areas["jowzjan"]])
    alert.excluded_areas.set([])
    text(alert, sms_text="Shelter in place.")
    area = document(schema, alert).find("cap:info/cap:area", NS)
    assert value(area, "cap:areaDesc") == "Jowzjan; within 12.5 km of 36.7, 65.75"
    assert value(area, "cap:circle") == "36.7,65.75 12.5"
    assert values(area, "cap:geocode/cap:value") == ["AF-JOW"]


def test_excluded_regions_are_named_in_the_area_description(schema, areas):
    alert = approved()
    alert.areas.set([areas["afghanistan"]])
    alert.excluded_areas.set([areas["kabul"]])
    text(alert, sms_text="Reconsider travel.")
    text(alert, language="fa", sms_text="در سفر بازنگری کنید.")
    infos = document(schema, alert).findall("cap:info", NS)
    assert [value(i, "cap:area/cap:areaDesc") for i in infos] == [
        "Afghanistan, except Kabul",
        "افغانستان، به جز کابل",
    ]


def test_each_language_has_its_own_info_in_its_own_words(schema, areas):
    alert = approved(advisory_level=4, fallback_language="en")
    alert.areas.set([areas["kabul"], areas["jowzjan"]])
    text(
        alert,
        language="fa",
        sms_text="{area}: سطح {level}، {level_name}. {checkin_words}",
        email_subject="",
        email_body="",
    )
    text(
        alert,
        language="en",
        sms_text="{area}: level {level}, {level_name}.",
        email_subject="{area}",
        email_body="Leave {area}.",
    )
    text(alert, language="fr", sms_text="", email_subject="", email_body="")  # an empty text is no text
    infos = document(schema, alert).findall("cap:info", NS)
    assert [value(i, "cap:language") for i in infos] == ["en", "fa-AF"]  # the fallback first; Dari as fa-AF
    english, dari = infos
    assert value(english, "cap:headline") == "Jowzjan, Kabul"
    assert value(english, "cap:area/cap:areaDesc") == "Jowzjan, Kabul"
    # Dari: area names in Dari where staff gave one, the level's words in Dari, and
    # with no email text the SMS is both headline and description.
    assert value(dari, "cap:area/cap:areaDesc") == "Jowzjan, کابل"
    assert value(dari, "cap:headline") == value(dari, "cap:description")
    with translation.override("fa"):
        words = level_name(4)
    assert words != "Do not travel"
    assert value(dari, "cap:description") == f"Jowzjan, کابل: سطح 4، {words}."  # no SMS reply words
    assert value(dari, "cap:event") == f"سطح هشدار سفر 4: {words}"


def test_the_expiry_is_given_in_utc_with_an_offset_when_set(schema, areas):
    kabul_time = datetime.timezone(datetime.timedelta(hours=4, minutes=30))
    alert = approved(expires_at=datetime.datetime(2021, 8, 16, 2, 30, 0, 999, tzinfo=kabul_time))
    alert.areas.set([areas["kabul"]])
    text(alert, sms_text="Curfew tonight.")
    assert value(document(schema, alert), "cap:info/cap:expires") == "2021-08-15T22:00:00+00:00"
    assert cap_time(APPROVED) == "2021-08-15T10:00:00+00:00"


def test_a_test_alert_says_status_test_and_its_words_start_with_test(schema, areas):
    alert = approved(is_test=True)
    alert.areas.set([areas["kabul"]])
    text(alert, sms_text="Drill.", email_subject="Drill", email_body="This is a drill.")
    root = document(schema, alert)
    assert value(root, "cap:status") == "Test"
    assert value(root, "cap:info/cap:headline") == "TEST: Drill"
    assert value(root, "cap:info/cap:description") == "TEST: This is a drill."


@pytest.mark.parametrize("state", [S.DRAFT, S.AWAITING_APPROVAL, S.CANCELLED])
def test_an_alert_not_approved_has_no_document(state):
    with pytest.raises(ValueError, match="not been approved"):
        cap_xml(AlertFactory(state=state, is_test=False))


def test_a_long_sms_headline_is_cut_to_about_160_characters(schema, areas):
    alert = approved()
    alert.areas.set([areas["kabul"]])
    text(alert, sms_text="Leave now. " * 40)
    info = document(schema, alert).find("cap:info", NS)
    assert len(value(info, "cap:headline")) <= 160
    assert value(info, "cap:description").startswith("Leave now. Leave now.")


def test_a_label_on_the_line_above_a_personal_link_is_left_out_with_it() -> None:
    from alerts.services.cap import _public_text

    text = "Leave now.\n\nTell us at once if you need assistance:\n{checkin_link}\n\nStay safe."
    assert _public_text(text, {"area": "Kabul"}) == "Leave now.\n\nStay safe."
    # A label whose line still says something after it stays.
    assert _public_text("Meet at:\nGate 3\n{checkin_link}", {}) == "Meet at:\nGate 3"
