"""Follow-up alerts: ask the people in an Area who have not answered to tell us how they are."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext

from alerts.models import Alert, AlertText, Area
from alerts.services.audience import compute_audience
from registrations.models import Citizen


def _languages(area: Area) -> list[str]:
    """The fallback language plus every language the area's citizens asked for."""
    spoken = set(
        Citizen.objects.filter(
            presences__country=area.country, **({"presences__region": area.region} if area.region else {})
        )
        .values_list("preferred_language", flat=True)
        .distinct()
    )
    known = dict(settings.ALERT_LANGUAGES)
    return [settings.ALERT_FALLBACK_LANGUAGE] + sorted(spoken & set(known) - {settings.ALERT_FALLBACK_LANGUAGE})


def draft_follow_up(area: Area, *, by: AbstractBaseUser, since: datetime.datetime | None = None) -> Alert:
    """A live DRAFT to everyone present in ``area`` who has not checked in (since ``since``).

    Its texts ask them to answer, in each language the area's citizens use; staff edit
    and submit it like any alert, and a second person approves it. Returns the draft.
    """
    with transaction.atomic():
        alert = Alert.objects.create(
            title=f"Follow-up: {area.name}, no answer"[:200],
            state=Alert.State.DRAFT,
            is_test=False,
            only_unanswered=True,
            unanswered_since=since,
            advisory_level=area.effective_level,
            fallback_language=settings.ALERT_FALLBACK_LANGUAGE,
            urgency=Alert.Urgency.IMMEDIATE,
            severity=Alert.Severity.SEVERE,
            certainty=Alert.Certainty.LIKELY,
            response_type=Alert.ResponseType.MONITOR,
            created_by=by,
        )
        alert.areas.add(area)
        texts = []
        for language in _languages(area):
            with translation.override(language):
                values = {"area": area.name.replace("{", "{{").replace("}", "}}")}
                texts.append(
                    AlertText(
                        alert=alert,
                        language=language,
                        sms_text=gettext("%(area)s: the embassy has not heard from you. {checkin_words}") % values,
                        email_subject=gettext("%(area)s: please tell us how you are") % values,
                        email_body=gettext(
                            "Dear {name},\n\nthe embassy has not heard from you since our last message about "
                            "%(area)s. Please tell us now whether you are safe, need assistance or have left:\n\n"
                            "{checkin_link}\n\nStop these emails: {unsubscribe_link}"
                        )
                        % values,
                    )
                )
        AlertText.objects.bulk_create(texts)
        compute_audience(alert)
    return alert
