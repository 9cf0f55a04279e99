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
from alerts.models import Alert
from alerts.timezones import zone_label


class LoginForm(forms.Form):
    """Username, password and, for staff with an authenticator, the code it shows.

    ``authenticate`` gets the request, so django-axes counts failures and locks out;
    a wrong code counts as a failed login too. Staff members (``is_staff``) without a
    console role sign in here too: it is the Django admin's only sign-in
    (``embassy.admin_site``).
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
        if user is None or not (is_console_user(user) or user.is_staff):
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


class SetupCodeForm(forms.Form):
    setup_code = forms.CharField(
        label=_("Set-up code"),
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "none", "autofocus": True}),
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


class LevelChangeForm(forms.Form):
    """A new advisory level for an Area, and why."""

    INHERIT = "inherit"

    level = forms.ChoiceField(label=_("New level"), widget=forms.RadioSelect)
    reason = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        help_text=_("Kept with the change and shown in the audit trail."),
    )

    def __init__(self, *args: Any, area: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices: list[tuple[str, str]] = [(str(n), f"{n} — {name}") for n, name in level_choices()]
        if area.region:
            choices.append((self.INHERIT, str(_("Same as the country"))))
        self.fields["level"].choices = choices

    def new_level(self) -> int | None:
        value = self.cleaned_data["level"]
        return None if value == self.INHERIT else int(value)


class AlertForm(forms.ModelForm):
    """An alert's settings: test or live, channels, audience and CAP metadata."""

    is_test = forms.TypedChoiceField(
        label=_("Test or live"),
        coerce=lambda v: v == "test",
        choices=[
            ("test", _("TEST — only the staff test list receives it")),
            ("live", _("LIVE — the public in the chosen areas receives it")),
        ],
        widget=forms.RadioSelect,
    )

    class Meta:
        model = Alert
        fields = [
            "title",
            "is_test",
            "send_sms",
            "send_email",
            "areas",
            "excluded_areas",
            "center_name",
            "center_region",
            "center_latitude",
            "center_longitude",
            "radius_km",
            "advisory_level",
            "fallback_language",
            "category",
            "urgency",
            "severity",
            "certainty",
            "response_type",
            "expires_at",
        ]
        widgets = {
            "areas": forms.CheckboxSelectMultiple,
            "excluded_areas": forms.CheckboxSelectMultiple,
            "expires_at": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        }
        labels = {
            "center_latitude": _("Centre latitude"),
            "center_longitude": _("Centre longitude"),
            "radius_km": _("Radius (km)"),
            "advisory_level": _("Advisory level announced"),
            "fallback_language": _("Fallback language"),
            "excluded_areas": _("Except people in these regions"),
            "expires_at": _("Expires at"),
        }
        help_texts = {
            "excluded_areas": _(
                "Regions of a chosen country to leave out, e.g. those with an advisory level of their own. "
                "Someone also present elsewhere in the chosen areas still receives the alert."
            ),
        }

    #: The fields shown folded under "Level, language and CAP details": the form's
    #: fields from the level on (a CAP field added at the end is folded with them).
    DETAIL_FIELDS = tuple(Meta.fields[Meta.fields.index("advisory_level") :])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from django.conf import settings

        super().__init__(*args, **kwargs)
        self.initial["is_test"] = "test" if self.instance.is_test else "live"
        self.fields["advisory_level"].widget = forms.Select(choices=[("", "—")] + level_choices())
        self.fields["fallback_language"].widget = forms.Select(choices=settings.ALERT_LANGUAGES)
        self.fields["areas"].queryset = self.fields["areas"].queryset.order_by("country", "region")
        self.fields["excluded_areas"].queryset = (
            self.fields["excluded_areas"].queryset.exclude(region="").order_by("country", "region")
        )
        self.fields["expires_at"].input_formats = ["%Y-%m-%dT%H:%M"]
        self.fields["expires_at"].help_text = _(
            "In %(zone)s. Nothing of the alert is sent after this time; leave it empty for no expiry."
        ) % {"zone": zone_label()}

    @property
    def details_have_errors(self) -> bool:
        """Whether a folded detail field has an error (so the page unfolds them)."""
        return self.is_bound and any(name in self.errors for name in self.DETAIL_FIELDS)

    def clean_expires_at(self) -> Any:
        from alerts.services.alerts import expiry_problem

        expires_at = self.cleaned_data.get("expires_at")
        problem = expiry_problem(expires_at)
        if problem:
            raise forms.ValidationError(problem, code="expired")
        return expires_at

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        point = [cleaned.get("center_latitude"), cleaned.get("center_longitude"), cleaned.get("radius_km")]
        if any(v is not None for v in point) and not all(v is not None for v in point):
            raise forms.ValidationError(_("A radius audience needs a latitude, a longitude and a radius."))
        excluded = list(cleaned.get("excluded_areas") or [])
        if excluded and "areas" in cleaned:
            from alerts.services.areas import excluded_area_problems

            for problem in excluded_area_problems(cleaned["areas"], excluded):
                self.add_error("excluded_areas", problem)
        return cleaned


class AlertTextForm(forms.Form):
    """An alert's words in one language; all three empty means no text in it."""

    sms_text = forms.CharField(label=_("SMS text"), required=False, widget=forms.Textarea(attrs={"rows": 4}))
    email_subject = forms.CharField(label=_("Email subject"), required=False, max_length=200)
    email_body = forms.CharField(label=_("Email body"), required=False, widget=forms.Textarea(attrs={"rows": 6}))

    def __init__(self, *args: Any, language: str, language_label: str, **kwargs: Any) -> None:
        super().__init__(*args, prefix=f"text-{language}", **kwargs)
        self.language = language
        self.language_label = language_label

    @property
    def has_content(self) -> bool:
        """Whether this language has any words (as typed, or as stored)."""
        fields = ("sms_text", "email_subject", "email_body")
        if self.is_bound:
            return any((self.data.get(self.add_prefix(f)) or "").strip() for f in fields)
        return any((self.initial.get(f) or "").strip() for f in fields)

    def is_empty(self) -> bool:
        data = self.cleaned_data
        return not (data.get("sms_text", "").strip() or data.get("email_subject", "").strip() or data.get("email_body"))

    def clean(self) -> dict[str, Any]:
        from alerts.services.rendering import placeholder_errors

        cleaned = super().clean()
        for field in ("sms_text", "email_subject", "email_body"):
            for error in placeholder_errors(cleaned.get(field, "") or ""):
                self.add_error(field, error)
        return cleaned


class ApproveForm(forms.Form):
    """The approver's confirmation; for a live alert it names the audience and the areas."""

    confirm = forms.BooleanField(label=_("I have checked the words, the audience and the areas."), required=True)
    include_unverified = forms.BooleanField(label=_("Also send to unverified contacts"), required=False)


class StaffCreateForm(forms.Form):
    """A new staff account: user name, name, email, console roles and a first password
    (handed over in person with the set-up code). No staff status: that is the Django
    admin's, given there."""

    username = forms.CharField(label=_("Username"), max_length=150)
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    email = forms.EmailField(label=_("Email"), required=False)
    roles = forms.MultipleChoiceField(label=_("Roles"), widget=forms.CheckboxSelectMultiple)
    password1 = forms.CharField(
        label=_("First password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 12 characters. Give it to them in person with the set-up code."),
    )
    password2 = forms.CharField(
        label=_("First password again"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from alerts.console.permissions import Role

        super().__init__(*args, **kwargs)
        self.fields["roles"].choices = [(role.value, role.value) for role in Role]

    def clean_username(self) -> str:
        from django.contrib.auth import get_user_model

        user_model = get_user_model()
        username = user_model.normalize_username(self.cleaned_data["username"])
        user_model._meta.get_field("username").run_validators(username)
        # Case-insensitively: two accounts told apart by case alone would be mixed up.
        if user_model.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(_("There is already an account with this user name."), code="taken")
        return username

    def clean(self) -> dict[str, Any]:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.password_validation import validate_password

        cleaned = super().clean()
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", forms.ValidationError(_("The two passwords differ."), code="mismatch"))
        elif password1:
            candidate = get_user_model()(
                username=cleaned.get("username", ""),
                email=cleaned.get("email", ""),
                first_name=cleaned.get("first_name", ""),
                last_name=cleaned.get("last_name", ""),
            )
            try:
                validate_password(password1, candidate)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned
