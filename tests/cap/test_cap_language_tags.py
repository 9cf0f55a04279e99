"""CAP's ``<language>`` is an RFC 3066 tag: the project's "fa" is Dari as spoken in
Afghanistan, ``fa-AF``; the other alert languages' codes are already their tags."""

from __future__ import annotations

import pytest
from django.conf import settings

from alerts.services.cap import cap_language
from tests.cap.test_cap_documents import NS, approved, areas, document, schema, text, value

pytestmark = pytest.mark.django_db
__all__ = ["areas", "schema"]  # fixtures shared with the documents' tests


def test_dari_is_tagged_fa_af_and_the_other_codes_stay_as_they_are():
    assert cap_language("fa") == "fa-AF"
    assert [cap_language(code) for code, _name in settings.ALERT_LANGUAGES if code != "fa"] == [
        "en",
        "ps",
        "ar",
        "fr",
    ]


def test_every_alert_language_gives_a_valid_document_with_its_tag(schema, areas):
    alert = approved(fallback_language="en")
    alert.areas.set([areas["kabul"]])
    for code, _name in settings.ALERT_LANGUAGES:
        text(alert, language=code, sms_text=f"Leave {{area}} ({code}).")
    infos = document(schema, alert).findall("cap:info", NS)  # validated against the OASIS schema
    assert [value(info, "cap:language") for info in infos] == ["en", "fa-AF", "ps", "ar", "fr"]
    dari = infos[1]
    assert value(dari, "cap:description") == "Leave کابل (fa)."  # still the Dari text, in Dari words
