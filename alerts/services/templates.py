"""Templates per advisory level and language, and the alerts drafted from them."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from alerts.errors import TemplateError
from alerts.levels import highest_level, level_name
from alerts.models import Alert, AlertTemplate, AlertText, Area, LevelChange
from alerts.services.areas import regions_with_their_own_level
from alerts.services.audience import compute_audience
from alerts.services.rendering import fill_alert_placeholders, placeholder_errors, placeholder_errors_by_field


def validate_template(sms_text: str, email_subject: str, email_body: str) -> None:
    """Check the placeholders of a template's three texts. Raises TemplateError."""
    errors: dict[str, list[str]] = {}
    for field, text in (("sms_text", sms_text), ("email_subject", email_subject), ("email_body", email_body)):
        found = placeholder_errors(text)
        if found:
            errors[field] = found
    if errors:
        raise TemplateError(errors)


def save_template(
    *,
    level: int,
    language: str,
    sms_text: str,
    email_subject: str,
    email_body: str,
    by: AbstractBaseUser | None,
) -> AlertTemplate:
    """Create or replace the template for (level, language), placeholders checked first.

    Raises TemplateError (bad placeholders, unknown level or language); nothing is saved then.
    """
    problems: dict[str, list[str]] = {}
    if level not in settings.ADVISORY_LEVELS:
        problems["level"] = [gettext("Unknown advisory level %(level)s.") % {"level": level}]
    if language not in dict(settings.ALERT_LANGUAGES):
        problems["language"] = [gettext("Alerts are not offered in “%(language)s”.") % {"language": language}]
    try:
        validate_template(sms_text, email_subject, email_body)
    except TemplateError as exc:
        problems.update(exc.errors)
    if problems:
        raise TemplateError(problems)
    template, _created = AlertTemplate.objects.update_or_create(
        level=level,
        language=language,
        defaults={"sms_text": sms_text, "email_subject": email_subject, "email_body": email_body, "updated_by": by},
    )
    return template


# CAP fields that fit each step of the default scale; the top level is always the most urgent.
def _cap_for_level(level: int) -> dict[str, str]:
    top = highest_level()
    if level >= top:
        return {
            "urgency": Alert.Urgency.IMMEDIATE,
            "severity": Alert.Severity.EXTREME,
            "certainty": Alert.Certainty.LIKELY,
            "response_type": Alert.ResponseType.EVACUATE,
        }
    if level == top - 1:
        return {
            "urgency": Alert.Urgency.EXPECTED,
            "severity": Alert.Severity.SEVERE,
            "certainty": Alert.Certainty.LIKELY,
            "response_type": Alert.ResponseType.PREPARE,
        }
    if level > 1:
        return {
            "urgency": Alert.Urgency.EXPECTED,
            "severity": Alert.Severity.MODERATE,
            "certainty": Alert.Certainty.POSSIBLE,
            "response_type": Alert.ResponseType.MONITOR,
        }
    return {
        "urgency": Alert.Urgency.FUTURE,
        "severity": Alert.Severity.MINOR,
        "certainty": Alert.Certainty.POSSIBLE,
        "response_type": Alert.ResponseType.MONITOR,
    }


def draft_alert_for_level(
    area: Area, level: int, *, by: AbstractBaseUser, level_change: LevelChange | None = None
) -> Alert | None:
    """Draft a live alert from ``level``'s templates for everyone present in ``area``.

    For a country, its regions whose own level differs from ``level`` are the draft's
    excluded areas (``regions_with_their_own_level``).

    The alert waits for approval (AWAITING_APPROVAL); its texts have the area and level
    filled in, the recipient's name and links left for sending. Returns None, drafting
    nothing, when no template exists for the level in the fallback language.
    """
    templates = list(AlertTemplate.objects.filter(level=level))
    fallback = settings.ALERT_FALLBACK_LANGUAGE
    if not any(t.language == fallback for t in templates):
        return None

    def values(language: str) -> dict[str, str]:
        # Each language's text gets the level's words in that language.
        with translation.override(language):
            return {"area": area.name, "level": str(level), "level_name": level_name(level)}

    with transaction.atomic():
        alert = Alert.objects.create(
            title=f"{area.name}: level {level}, {level_name(level)}"[:200],
            state=Alert.State.AWAITING_APPROVAL,
            is_test=False,
            advisory_level=level,
            fallback_language=fallback,
            created_by=by,
            **_cap_for_level(level),
        )
        alert.areas.add(area)
        # A country's regions with a level of their own keep their own advisory: they are
        # left out of the draft, where staff see them and may take them back in.
        alert.excluded_areas.set(regions_with_their_own_level(area, level))
        AlertText.objects.bulk_create(
            [
                AlertText(
                    alert=alert,
                    language=t.language,
                    sms_text=fill_alert_placeholders(t.sms_text, values(t.language)),
                    email_subject=fill_alert_placeholders(t.email_subject, values(t.language)),
                    email_body=fill_alert_placeholders(t.email_body, values(t.language)),
                )
                for t in templates
            ]
        )
        if level_change is not None:
            level_change.drafted_alert = alert
            level_change.save(update_fields=["drafted_alert"])
        alert.submitted_at = timezone.now()
        alert.save(update_fields=["submitted_at"])
        compute_audience(alert)
    return alert


def text_errors(text: AlertText) -> dict[str, list[str]]:
    """Placeholder errors of an alert text, per field (empty when fine)."""
    return placeholder_errors_by_field(text)
