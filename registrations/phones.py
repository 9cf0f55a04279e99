"""Phone numbers: parsed with the phonenumbers library and stored in E.164."""

from __future__ import annotations

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

_MOBILE_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
}


def normalize_phone(raw: str, default_region: str | None = None, *, mobile: bool = True) -> str:
    """Return ``raw`` in E.164, or raise ValidationError with a message for people.

    A national format is accepted when ``default_region`` (ISO 3166-1 alpha-2) is given.
    With ``mobile`` the number must be able to receive SMS.
    """
    text = (raw or "").strip()
    if not text:
        raise ValidationError(_("Enter a phone number."), code="required")
    try:
        number = phonenumbers.parse(text, (default_region or "").upper() or None)
    except phonenumbers.NumberParseException:
        if not text.startswith("+") and not default_region:
            raise ValidationError(
                _("Start the number with + and the country code, for example +93 70 123 4567."), code="no_country"
            ) from None
        raise ValidationError(_("This does not look like a phone number."), code="invalid") from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(
            _("This is not a valid phone number. Check the digits, or start with + and the country code."),
            code="invalid",
        )
    if mobile and phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise ValidationError(_("This is not a mobile number: we need one that can receive SMS."), code="not_mobile")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display_phone(e164: str) -> str:
    """An E.164 number in international format for people to read."""
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return e164


def masked_phone(e164: str) -> str:
    """Only the country code and last two digits, for pages that confirm where a code went."""
    if len(e164) < 5:
        return "…"
    return f"{e164[:3]} … {e164[-2:]}"


def masked_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}…@{domain}" if domain else "…"
