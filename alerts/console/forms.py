"""Forms of the console. Every label and message is translatable."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from alerts.console import otp
from alerts.console.permissions import is_console_user
from alerts.levels import level_choices


class LoginForm(forms.Form):
    """Username, password and, for staff with an authenticator, the code it shows.

    ``authenticate`` gets the request, so django-axes counts failures and locks out;
    a wrong code counts as a failed login too.
    """

    username = forms.CharField(label=_("Username"), max_length=150)
    password = forms.CharField(label=_("Password"), strip=False, widget=forms.PasswordInput)
    otp_token = forms.CharField(
        label=_("Authentication code"),
        required=False,
        max_length=10,
        help_text=_("Six digits from your authenticator app. Required for approvers and administrators."),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )

    error_messages = {
        "invalid_login": _("That username and password do not match a console account."),
        "code_required": _("Enter the six-digit code from your authenticator app."),
        "invalid_code": _("That authentication code is not right. Check the time on your phone and try again."),
    }

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        self.request = request
        self.user: Any = None
        self.device: Any = None
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        username, password = cleaned.get("username"), cleaned.get("password")
        if not username or not password:
            return cleaned
        user = authenticate(self.request, username=username, password=password)
        if user is None or not is_console_user(user):
            raise forms.ValidationError(self.error_messages["invalid_login"], code="invalid_login")
        devices = otp.confirmed_devices(user)
        if devices:
            code = cleaned.get("otp_token") or ""
            if not code:
                raise forms.ValidationError(self.error_messages["code_required"], code="code_required")
            device = otp.verify_code(user, code)
            if device is None:
                user_login_failed.send(sender=__name__, credentials={"username": username}, request=self.request)
                raise forms.ValidationError(self.error_messages["invalid_code"], code="invalid_code")
            self.device = device
        self.user = user
        return cleaned


class CodeForm(forms.Form):
    otp_token = forms.CharField(
        label=_("Authentication code"),
        max_length=10,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "autofocus": True}),
    )


class SituationFilterForm(forms.Form):
    level = forms.TypedChoiceField(label=_("Level"), required=False, coerce=int, empty_value=None)
    country = forms.ChoiceField(label=_("Country"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["level"].choices = [("", _("All levels"))] + [(n, f"{n} — {name}") for n, name in level_choices()]
        self.fields["country"].choices = [("", _("All countries"))] + list(countries)


class AuditFilterForm(forms.Form):
    actor = forms.CharField(label=_("Who"), required=False, max_length=150)
    action = forms.ChoiceField(label=_("Action"), required=False)
    object_type = forms.ChoiceField(label=_("Kind of object"), required=False)
    object_id = forms.CharField(label=_("Object id"), required=False, max_length=64)
    since = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, actions: list[str], object_types: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", _("All actions"))] + [(a, a) for a in actions]
        self.fields["object_type"].choices = [("", _("All kinds"))] + [(t, t) for t in object_types]
