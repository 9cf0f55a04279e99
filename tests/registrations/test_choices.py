"""The country and region choices are built once per language (not per form) and are the
same choices, in the same language, that a fresh build gives."""

from __future__ import annotations

import pytest
from django import forms
from django.utils import translation
from django_countries import countries

from registrations.forms import PresenceForm, Select, region_choices
from registrations.geo import regions_of


def _fresh_countries() -> list[tuple[str, str]]:
    return [("", str(translation.gettext("Choose a country")))] + [(c.code, str(c.name)) for c in countries]


@pytest.mark.parametrize("language", ["en", "fa"])
def test_country_choices_are_those_of_the_active_language(language):
    with translation.override(language):
        form = PresenceForm(prefix="presence", initial={"country": "AF"})
        assert list(form.fields["country"].choices) == _fresh_countries()
        assert list(form.fields["country"].widget.choices) == _fresh_countries()


def test_each_language_gets_its_own_list_and_forms_share_it():
    with translation.override("en"):
        english = PresenceForm().fields["country"].choices
        assert PresenceForm().fields["country"].choices is english  # built once, not per form
        assert dict(english)["AF"] == "Afghanistan"
        assert dict(english)[""] == "Choose a country"
    with translation.override("fa"):
        dari = PresenceForm().fields["country"].choices
        assert dari is not english
        assert dict(dari)[""] == "یک کشور انتخاب کنید"
        assert dict(dari)["AF"] != "Afghanistan"  # the Dari name
    with translation.override("en"):
        assert PresenceForm().fields["country"].choices is english  # Dari did not overwrite it


@pytest.mark.parametrize("language", ["en", "fa"])
def test_region_choices_follow_the_country_and_the_language(language):
    with translation.override(language):
        form = PresenceForm({"presence-country": "AF"}, prefix="presence")
        blank = str(translation.gettext("Not sure / whole country"))
        assert list(form.fields["region"].choices) == [("", blank), *regions_of("AF")]
        assert ("AF-KAB", "Kābul") in form.fields["region"].choices
        assert list(PresenceForm({"presence-country": "IR"}, prefix="presence").fields["region"].choices)[1:] == list(
            regions_of("IR")
        )


@pytest.mark.parametrize("code", ["", "ZZ", "AFG", "004", "af<script>", "x" * 500])
def test_unknown_country_codes_get_the_blank_region_only_and_no_entry_of_their_own(code):
    choices = region_choices(code)
    assert [value for value, _label in choices] == [""]
    assert choices is region_choices("")


def test_lower_case_codes_share_the_upper_case_entry():
    assert region_choices("af") is region_choices("AF")


@pytest.mark.django_db
def test_the_form_still_validates_against_the_cached_choices():
    data = {
        "presence-country": "AF",
        "presence-region": "AF-KAB",
        "presence-lives_here": "on",
    }
    assert PresenceForm(data, prefix="presence").is_valid()
    bad_country = PresenceForm({**data, "presence-country": "ZZ"}, prefix="presence")
    assert not bad_country.is_valid() and "country" in bad_country.errors
    bad_region = PresenceForm({**data, "presence-region": "IR-07"}, prefix="presence")
    assert not bad_region.is_valid() and "region" in bad_region.errors


@pytest.mark.django_db
def test_the_dari_page_lists_countries_in_dari(client):
    html = client.get("/?country=AF", HTTP_ACCEPT_LANGUAGE="fa").content.decode()
    with translation.override("fa"):
        dari_afghanistan = str(dict(countries)["AF"])
    assert dari_afghanistan in html and "یک کشور انتخاب کنید" in html


# --- the select widget: options rendered in Python, the same HTML as Django's ------------


@pytest.mark.parametrize("language", ["en", "fa"])
@pytest.mark.parametrize("country", ["AF", "CI", "IR", "", "ZZ"])
def test_the_selects_render_exactly_as_djangos(language, country):
    with translation.override(language):
        form = PresenceForm({"presence-country": country, "presence-region": "AF-KAB"}, prefix="presence")
        for name in ("country", "region"):
            field = form.fields[name]
            ours = field.widget.render(f"presence-{name}", form[name].value(), {"id": f"id_presence-{name}"})
            djangos = forms.Select(choices=field.choices).render(
                f"presence-{name}", form[name].value(), {"id": f"id_presence-{name}"}
            )
            assert ours == djangos
            assert ours.count("<option") == len(list(field.choices))


def test_the_select_escapes_and_groups_as_djangos():
    choices = [
        ("", "—"),
        ("a&b", '<b>Côte d\'Ivoire</b> & "quotes"'),
        ("Group <1>", [("g1", "One"), ("g2", "Two & more")]),
        (3, "three"),
    ]
    for value in ("a&b", "g2", 3, "3", None, ""):
        attrs = {"id": "id_x", "aria-describedby": "id_x_help", "required": True, "disabled": False}
        assert Select(choices=choices).render("x", value, attrs) == forms.Select(choices=choices).render(
            "x", value, attrs
        )


@pytest.mark.django_db
def test_the_registration_page_with_errors_renders_every_select(client):
    html = client.post("/", {"action": "register", "presence-country": "AF", "contact-preferred_language": "fa"})
    assert html.status_code == 400
    page = html.content.decode()
    assert '<option value="AF" selected>Afghanistan</option>' in page
    assert '<option value="fa" selected>دری (Dari)</option>' in page


def test_regions_are_in_reading_order_whatever_their_accents():
    """Kābul comes before Kunduz, Bādghīs before Balkh: a frightened citizen looks for
    Kabul among the Ks, not after them."""
    names = [name for _code, name in regions_of("AF")]
    assert names.index("Kābul") < names.index("Kunduz")
    assert names.index("Bādghīs") < names.index("Balkh")
    assert names.index("Nīmrōz") < names.index("Nūristān")
