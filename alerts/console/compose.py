"""What the compose screen shows next to the words: previews, costs and warnings.

These read; they never change an alert. The rules of the pipeline (who may approve,
what may be sent, who is in the audience) stay in ``alerts.services``; the audience
counts shown here come from ``compute_audience`` without saving.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from alerts.levels import level_name
from alerts.models import Alert, AlertText, Area
from alerts.segments import SegmentCount, count_segments
from registrations.models import Citizen

SAMPLE_NAME = "Sara Ahmadi"
# Alerts that are (or are about to be) in people's hands.
LIVE_STATES = (Alert.State.SCHEDULED, Alert.State.SENDING, Alert.State.SENT)


@dataclass(frozen=True)
class SmsPreview:
    language: str
    text: str  # as one recipient would read it (sample name and link)
    segments: SegmentCount


@dataclass(frozen=True)
class EmailPreview:
    language: str
    subject: str
    body: str


def _sample_values(alert: Alert, language: str) -> dict[str, str]:
    from alerts.services import links
    from alerts.services.messages import alert_values, checkin_words

    values = alert_values(alert, language) if alert.pk else {"area": "", "level": "", "level_name": ""}
    sample = Citizen(pk=10_000_000, full_name=SAMPLE_NAME)  # never saved: only sizes the links
    values.update(
        name=SAMPLE_NAME,
        checkin_words=checkin_words(language),
        checkin_link=links.check_in_url(sample, alert if alert.pk else None),
        unsubscribe_link=links.unsubscribe_url(sample),
    )
    return values


def _render(text: str, values: dict[str, str]) -> str:
    from alerts.services.rendering import compile_text, placeholder_errors

    if placeholder_errors(text):
        return text  # shown as written; the form says what is wrong
    return compile_text(text).render(values)


def previews(alert: Alert, texts: list[AlertText]) -> tuple[list[SmsPreview], list[EmailPreview]]:
    """SMS and email as a sample recipient would get them, per language."""
    from alerts.services.messages import TEST_PREFIX

    prefix = TEST_PREFIX if alert.is_test else ""
    sms: list[SmsPreview] = []
    email: list[EmailPreview] = []
    for text in texts:
        values = _sample_values(alert, text.language)
        if text.sms_text:
            rendered = prefix + _render(text.sms_text, values)
            sms.append(SmsPreview(text.language, rendered, count_segments(rendered)))
        if text.email_subject or text.email_body:
            email.append(
                EmailPreview(
                    text.language,
                    prefix + _render(text.email_subject, values),
                    prefix + _render(text.email_body, values),
                )
            )
    return sms, email


def estimated_sms_segments(alert: Alert, sms: list[SmsPreview]) -> int | None:
    """Segments the whole audience will cost by SMS, estimated from each language's preview.

    Recipients get their preferred language's text, or the fallback language's. Names and
    links differ per person, so this is an estimate. None for a test alert (staff list).
    """
    if not alert.pk or not alert.send_sms or alert.is_test:
        return None
    from alerts.services.audience import reachable_citizens

    by_language = {p.language: p.segments.segments for p in sms}
    fallback = by_language.get(alert.fallback_language, 0)
    counts = (
        reachable_citizens(alert).filter(~Q(phone="")).order_by().values("preferred_language").annotate(n=Count("pk"))
    )
    return sum(row["n"] * by_language.get(row["preferred_language"], fallback) for row in counts)


# Wording that announces an end to danger. Native speakers should review the non-English
# phrases; a missed phrase only means a missed warning, never a blocked alert.
ALL_CLEAR_PATTERNS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\ball[\s-]+clear\b",
        r"\bsafe to return\b",
        r"\b(threat|danger|emergency)\s+(has\s+)?(passed|ended|is\s+over)\b",
        r"\b(advisory|warning|alert|order)\s+(has\s+been|is)\s+lifted\b",
        r"\bno longer (in effect|in force|dangerous|necessary)\b",
        r"\bnormal precautions\b",
        r"\bfin de l'alerte\b",
        r"\balerte (est )?levée\b",
        r"زال الخطر",  # Arabic: the danger has passed
        r"خطر برطرف شد",  # Dari: the danger has been removed
    )
]
LEVEL_IN_TEXT = re.compile(r"\blevel\s*([1-9])\b", re.IGNORECASE)
SERIOUS_RESPONSES = {Alert.ResponseType.EVACUATE, Alert.ResponseType.SHELTER, Alert.ResponseType.AVOID}


@dataclass(frozen=True)
class Contradiction:
    other: Alert
    areas: list[Area]
    message: str


def _stated_level(alert: Alert, texts: list[AlertText]) -> int | None:
    if alert.advisory_level is not None:
        return alert.advisory_level
    found = [int(m.group(1)) for t in texts for m in LEVEL_IN_TEXT.finditer(t.sms_text + " " + t.email_body)]
    return min(found) if found else None


def _reads_all_clear(alert: Alert, texts: list[AlertText]) -> bool:
    if alert.response_type == Alert.ResponseType.ALL_CLEAR:
        return True
    words = " ".join(f"{t.sms_text} {t.email_subject} {t.email_body}" for t in texts)
    return any(p.search(words) for p in ALL_CLEAR_PATTERNS)


def _overlap(mine: list[Area], theirs: list[Area], excluded: Sequence[Area] = ()) -> list[Area]:
    """Their areas that cover or lie in one of mine (a country holds its regions), but
    for the regions I exclude: nobody there hears my alert."""
    left_out = {area.pk for area in excluded}
    hits = []
    for other in theirs:
        if other.pk in left_out:
            continue
        for area in mine:
            same_country = str(area.country) == str(other.country)
            if same_country and (area.pk == other.pk or not area.region or not other.region):
                hits.append(other)
                break
    return hits


def contradictions(
    alert: Alert, texts: list[AlertText], areas: list[Area] | None = None, excluded: list[Area] | None = None
) -> list[Contradiction]:
    """Live alerts for the same place that this live alert's words contradict.

    A contradiction: this alert announces a lower level than a live alert for an
    overlapping area, or reads as an all clear while a level-3-or-higher (or evacuate,
    shelter, avoid) alert is live there, and it neither updates nor cancels that alert.
    Test alerts never contradict anything: the public does not see them.
    """
    if alert.is_test:
        return []
    mine = areas if areas is not None else (list(alert.areas.all()) if alert.pk else [])
    if not mine:
        return []
    if excluded is None:
        excluded = list(alert.excluded_areas.all()) if alert.pk else []
    now = timezone.now()
    cancelled = Alert.objects.filter(
        references=OuterRef("pk"), msg_type=Alert.MsgType.CANCEL, state__in=LIVE_STATES, is_test=False
    )
    live = (
        Alert.objects.filter(is_test=False, state__in=LIVE_STATES)
        .exclude(msg_type=Alert.MsgType.CANCEL)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .filter(areas__country__in={str(a.country) for a in mine})
        .exclude(Exists(cancelled))
        .distinct()
        .prefetch_related("areas", "texts")
    )
    if alert.pk:
        live = live.exclude(pk=alert.pk)
    if alert.references_id:
        live = live.exclude(pk=alert.references_id)
    my_level = _stated_level(alert, texts)
    all_clear = _reads_all_clear(alert, texts)
    found: list[Contradiction] = []
    for other in live:
        shared = _overlap(mine, list(other.areas.all()), excluded)
        if not shared:
            continue
        other_texts = list(other.texts.all())
        other_level = _stated_level(other, other_texts)
        names = ", ".join(a.name for a in shared)
        level_words = (
            _("level %(level)s (%(level_name)s)") % {"level": other_level, "level_name": level_name(other_level)}
            if other_level
            else ""
        )
        if my_level is not None and other_level is not None and my_level < other_level:
            message = _(
                "This alert says level %(mine)s, but alert #%(id)s “%(title)s” at %(theirs)s is live for "
                "%(areas)s and this alert does not update or cancel it."
            ) % {"mine": my_level, "id": other.pk, "title": other.title, "theirs": level_words, "areas": names}
        elif all_clear and ((other_level or 0) >= 3 or other.response_type in SERIOUS_RESPONSES):
            message = _(
                "This alert reads as an all clear, but alert #%(id)s “%(title)s”%(level)s is live for %(areas)s "
                "and this alert does not update or cancel it."
            ) % {
                "id": other.pk,
                "title": other.title,
                "level": f" ({level_words})" if level_words else "",
                "areas": names,
            }
        else:
            continue
        found.append(Contradiction(other=other, areas=shared, message=message))
    return found


def describe_areas(alert: Alert) -> str:
    """The alert's areas as staff read them: "Afghanistan, except Kabul province, Nimruz"."""
    if not alert.pk:
        return ""
    names = ", ".join(a.name for a in alert.areas.all())
    excluded = ", ".join(a.name for a in alert.excluded_areas.all())
    if names and excluded:
        return _("%(areas)s, except %(excluded)s") % {"areas": names, "excluded": excluded}
    return names


def language_name(code: str) -> str:
    return dict(settings.ALERT_LANGUAGES).get(code, code)


def expiry_outcome(alert: Alert) -> str:
    """What the alert's expiry did to its sending, in words for staff ("" when nothing).

    An alert that expired before its fan-out started ended ABORTED by nobody
    (``fanout.end_expired_before_start``): nothing was sent. One whose fan-out was cut
    short by the expiry (``fanout_done_at`` at or after ``expires_at``) reached only the
    people whose messages existed by then.
    """
    from alerts.services.alerts import format_time

    expires_at = alert.expires_at
    if expires_at is None:
        return ""
    words = {"time": format_time(expires_at)}
    if (
        alert.state == Alert.State.ABORTED
        and alert.aborted_by_id is None
        and alert.started_at is None
        and alert.aborted_at is not None
        and expires_at <= alert.aborted_at
    ):
        return _("Nothing was sent: the alert expired (%(time)s) before sending started.") % words
    if alert.started_at is not None and alert.fanout_done_at is not None and expires_at <= alert.fanout_done_at:
        return (
            _(
                "The alert expired (%(time)s) while its messages were still being prepared: "
                "people not reached by then were sent nothing."
            )
            % words
        )
    return ""
