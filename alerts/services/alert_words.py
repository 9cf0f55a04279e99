"""An alert named to citizens in its own words: the line a check-in page shows.

``Alert.title`` is the staff's internal name for a campaign (English, and never sent):
a citizen is shown what the alert itself said to them, in the page's language when the
alert has a text in it, else in ``alert.fallback_language`` (as its messages fall back).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.utils.text import Truncator

from alerts.models import Alert, AlertText
from alerts.services.messages import TEST_PREFIX, alert_values, checkin_words
from alerts.services.rendering import compile_text

#: at most this many characters: a reminder of which alert, not the alert again
MAX_CHARS = 90

# The page shows nothing personal (a forwarded link must not give the name away), so a
# text's per-recipient placeholders are left empty, and the space or punctuation they
# leave behind is tidied.
_NO_PERSONAL = {"name": "", "checkin_link": "", "unsubscribe_link": ""}
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([,.;:!?،؛؟])")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class AlertWords:
    """A short line of an alert's own wording, and the language it is written in."""

    text: str
    language: str


def _filled(text: str, alert: Alert, language: str) -> str:
    values = dict(alert_values(alert, language), checkin_words=checkin_words(language), **_NO_PERSONAL)
    try:
        filled = compile_text(text).render(values)
    except ValueError:  # malformed braces, in a row written around the services
        filled = text
    filled = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", filled)
    return _SPACES.sub(" ", filled).strip(" ,;:")


def alert_words(alert: Alert, language: str) -> AlertWords | None:
    """The alert's email subject in ``language``, else the start of its SMS text; in
    ``alert.fallback_language`` when it has no text in ``language``. None when it has
    neither (the title is never used). Plain text, at most ``MAX_CHARS`` characters; a
    test alert's starts with "TEST:" as its messages do.
    """
    texts = {text.language: text for text in AlertText.objects.filter(alert=alert)}
    for candidate in dict.fromkeys((language, alert.fallback_language)):
        text = texts.get(candidate)
        if text is None:
            continue
        words = _filled(text.email_subject, alert, candidate) or _filled(text.sms_text, alert, candidate)
        if words:
            prefix = TEST_PREFIX if alert.is_test else ""
            return AlertWords(text=Truncator(prefix + words).chars(MAX_CHARS), language=candidate)
    return None
