"""Registration and self-service forms. Every error is worded for a person in a hurry."""

from __future__ import annotations

import datetime
from decimal import Decimal
from functools import lru_cache

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.choices import BaseChoiceIterator
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from registrations.geo import regions_of
from registrations.models import HouseholdMember
from registrations.phones import normalize_phone

CONSENT_TEXT = _(
    "I agree that the embassy may keep these details and contact me and the people with me by SMS and "
    "email about my safety, and I know I can change or delete them at any time."
)


class Select(forms.Select):
    """Django's select with its options rendered in Python, not by a template include per
    option (the country list has ~250: most of the registration page's rendering time).
    The HTML is the same, byte for byte (tests/registrations/test_choices.py)."""

    template_name = "registrations/widgets/select.html"

    def get_context(self, name: str, value: object, attrs: dict | None) -> dict:
        context = super().get_context(name, value, attrs)
        parts: list[str] = []
        for group_name, group_choices, _index in context["widget"]["optgroups"]:
            if group_name:
                parts.append(format_html('\n  <optgroup label="{}">', group_name))
            for option in group_choices:
                # As django/forms/widgets/select_option.html and attrs.html render it.
                attributes = "".join(
                    format_html(" {}", key) if val is True else format_html(' {}="{}"', key, str(val))
                    for key, val in option["attrs"].items()
                    if val is not False
                )
                parts.append(
                    format_html(
                        '\n  <option value="{}"{}>{}</option>\n',
                        str(option["value"]),
                        mark_safe(attributes),  # noqa: S308 - built from escaped parts just above
                        option["label"],
                    )
                )
            if group_name:
                parts.append("\n  </optgroup>")
        context["widget"]["options_html"] = mark_safe("".join(parts))  # noqa: S308 - each part escaped
        return context


class ContactForm(forms.Form):
    """Who the citizen is and how to reach them. At least one of phone and email."""

    full_name = forms.CharField(label=_("Full name"), max_length=200)
    phone = forms.CharField(
        label=_("Mobile number"),
        required=False,
        max_length=32,
        help_text=_("With the country code, for example +93 70 123 4567, or in the local format of your country."),
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel"}),
    )
    email = forms.EmailField(
        label=_("Email"), required=False, max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    preferred_language = forms.ChoiceField(
        label=_("Language for our messages"), choices=settings.ALERT_LANGUAGES, widget=Select
    )
    emergency_contact_name = forms.CharField(label=_("Emergency contact name"), required=False, max_length=200)
    emergency_contact_phone = forms.CharField(
        label=_("Emergency contact phone"),
        required=False,
        max_length=32,
        help_text=_("Someone we may call if we cannot reach you, with the country code."),
        widget=forms.TextInput(attrs={"type": "tel", "inputmode": "tel"}),
    )

    def __init__(self, *args: object, default_region: str = "", **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.default_region = default_region
        self.fields["full_name"].widget.attrs["autocomplete"] = "name"

    def clean_full_name(self) -> str:
        name = " ".join(self.cleaned_data["full_name"].split())
        if not name:
            raise ValidationError(_("Enter your full name."))
        return name

    def clean_phone(self) -> str:
        raw = self.cleaned_data.get("phone", "")
        if not raw.strip():
            return ""
        return normalize_phone(raw, self.default_region)

    def clean_email(self) -> str:
        return self.cleaned_data.get("email", "").strip().lower()

    def clean_emergency_contact_phone(self) -> str:
        raw = self.cleaned_data.get("emergency_contact_phone", "")
        if not raw.strip():
            return ""
        return normalize_phone(raw, self.default_region, mobile=False)

    def clean(self) -> dict:
        data = super().clean()
        if (
            not data.get("phone")
            and not data.get("email")
            and "phone" not in self.errors
            and "email" not in self.errors
        ):
            message = _("Give a mobile number or an email address (or both), so we can reach you.")
            self.add_error("phone", message)
            self.add_error("email", message)
        return data


class RegistrationContactForm(ContactForm):
    consent = forms.BooleanField(
        label=CONSENT_TEXT,
        error_messages={"required": _("We can only register you if you agree to be contacted.")},
    )


class FixedChoices(BaseChoiceIterator):
    """A choice list built once and shared by every form: Django takes an iterator as it
    is, instead of normalising the list again on each form (and on its widget)."""

    def __init__(self, choices: tuple[tuple[str, str], ...]) -> None:
        self.choices = choices

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.choices)

    def __len__(self) -> int:
        return len(self.choices)

    def __deepcopy__(self, memo: dict) -> FixedChoices:
        return self  # immutable


@lru_cache(maxsize=16)
def _country_choices(language: str | None) -> FixedChoices:
    # Country names are translated and sorted in the active language: one list per language.
    return FixedChoices((("", str(_("Choose a country"))), *((c.code, str(c.name)) for c in countries)))


@lru_cache(maxsize=1024)
def _region_choices(country: str, language: str | None) -> FixedChoices:
    return FixedChoices((("", str(_("Not sure / whole country"))), *regions_of(country)))


def country_choices() -> FixedChoices:
    """The country field's choices in the active language, built once per language."""
    return _country_choices(get_language())


def region_choices(country: str) -> FixedChoices:
    """A country's region choices in the active language, built once per country and language."""
    # The code comes from the request: only real ones (ISO alpha-2) get an entry of their own.
    country = country.upper()
    if countries.alpha2(country) != country:
        country = ""
    return _region_choices(country, get_language())


class PresenceForm(forms.Form):
    """Where the citizen is and for how long."""

    country = forms.ChoiceField(label=_("Country you are in"), widget=Select)
    region = forms.ChoiceField(
        label=_("Province or region"),
        required=False,
        widget=Select,
        error_messages={"invalid_choice": _("This region is not in the country you chose. Choose it again.")},
    )
    city = forms.CharField(label=_("City or town"), required=False, max_length=120)
    latitude = forms.DecimalField(
        label=_("Latitude"), required=False, min_value=Decimal("-90"), max_value=Decimal("90"), decimal_places=6
    )
    longitude = forms.DecimalField(
        label=_("Longitude"), required=False, min_value=Decimal("-180"), max_value=Decimal("180"), decimal_places=6
    )
    lives_here = forms.BooleanField(label=_("I live here"), required=False)
    arrival_date = forms.DateField(
        label=_("Arriving (or arrived) on"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    departure_date = forms.DateField(
        label=_("Leaving on"),
        required=False,
        help_text=_("Leave empty if you do not know yet."),
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["country"].choices = country_choices()
        country = (self.data.get(self.add_prefix("country")) if self.is_bound else None) or self.initial.get(
            "country", ""
        )
        self.fields["region"].choices = region_choices(str(country))

    def clean(self) -> dict:
        data = super().clean()
        country = data.get("country", "")
        region = data.get("region", "")
        if region and country and region not in dict(regions_of(country)):
            self.add_error("region", _("This region is not in the country you chose. Choose it again."))
        latitude, longitude = data.get("latitude"), data.get("longitude")
        if (latitude is None) != (longitude is None):
            self.add_error(
                "longitude" if longitude is None else "latitude",
                _("Give both latitude and longitude, or neither."),
            )
        arrival: datetime.date | None = data.get("arrival_date")
        departure: datetime.date | None = data.get("departure_date")
        lives_here = data.get("lives_here")
        if not lives_here and arrival is None and "arrival_date" not in self.errors:
            self.add_error("arrival_date", _("Give the date you arrived or will arrive, or tick “I live here”."))
        if arrival and departure and departure < arrival:
            self.add_error("departure_date", _("The leaving date is before the arriving date."))
        if lives_here and departure:
            self.add_error("departure_date", _("Leave this empty if you live here."))
        return data


class HouseholdMemberForm(forms.Form):
    full_name = forms.CharField(label=_("Name"), max_length=200, required=False)
    relationship = forms.ChoiceField(
        label=_("Relationship to you"),
        choices=[("", "—")] + list(HouseholdMember.Relationship.choices),
        required=False,
        widget=Select,
    )
    age_group = forms.ChoiceField(
        label=_("Age"), choices=[("", "—")] + list(HouseholdMember.AgeGroup.choices), required=False, widget=Select
    )

    def clean(self) -> dict:
        data = super().clean()
        filled = [name for name in ("full_name", "relationship", "age_group") if data.get(name)]
        if filled and len(filled) < 3:
            for name in ("full_name", "relationship", "age_group"):
                if not data.get(name) and name not in self.errors:
                    self.add_error(name, _("Fill in name, relationship and age, or leave the whole row empty."))
        return data

    @property
    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return not any(data.get(name) for name in ("full_name", "relationship", "age_group"))


class BaseHouseholdFormSet(forms.BaseFormSet):
    def members(self) -> list[dict]:
        """The filled rows, as dicts; blank rows are dropped."""
        return [form.cleaned_data for form in self.forms if form.cleaned_data and not form.is_blank]


HouseholdFormSet = forms.formset_factory(
    HouseholdMemberForm, formset=BaseHouseholdFormSet, extra=0, max_num=20, absolute_max=20, validate_max=True
)


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code from the SMS"),
        max_length=12,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "pattern": "[0-9 ]*"}),
    )

    def clean_code(self) -> str:
        code = "".join(self.cleaned_data["code"].split())
        if not (code.isdigit() and len(code) == 6):
            raise ValidationError(_("The code has 6 digits."))
        return code


class ManageRequestForm(forms.Form):
    contact = forms.CharField(
        label=_("Your registered mobile number or email"),
        max_length=254,
        help_text=_("We send a link to it that lets you see, change or delete your registration."),
    )
