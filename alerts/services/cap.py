"""An approved alert as an OASIS CAP 1.2 document (Common Alerting Protocol).

``cap_xml(alert)`` builds one ``<alert>`` with the standard library's ElementTree,
in the order the schema's sequences require (``../shared/contracts/CAP-v1.2.xsd``;
the tests validate every kind of document against it):

- ``identifier`` is ``<CAP_SENDER>:alert:<pk>``, ``sender`` the ``CAP_SENDER`` setting,
  ``sent`` the approval time in UTC (``2021-08-15T10:00:00+00:00``: CAP forbids "Z" and
  fractions of a second). ``status`` is Actual for a live alert and Test for a test
  alert, whose headline and description also start with "TEST:" as its messages do, so
  that a test never passes for a warning. ``scope`` is Public; an Update or Cancel
  names the alert it corrects in ``references`` ("sender,identifier,sent").
- One ``<info>`` per language the alert has a text in, its ``language`` the text's
  language as an RFC 3066 tag (``cap_language``: Dari, the project's "fa", is
  ``fa-AF``; the other codes are already the tags). ``headline`` is the email
  subject (else the start of the SMS text), ``description`` the email body (else the
  SMS text), their area and level placeholders filled in that language. A public
  document carries nothing personal: ``{name}`` is left out, and so is each personal
  link with the label before it ("Tell us how you are: {checkin_link}"), and
  ``{checkin_words}`` (answering by SMS works only for registered citizens). ``web``
  is the site's public address, where anyone can register.
- One ``<area>``: ``areaDesc`` names the areas in the info's language (and the
  regions carved out of them, and the radius around a place), a ``<circle>``
  "lat,lon radius_km" for a radius audience, and a ``<geocode>`` per area: CAP leaves
  a geocode's ``valueName`` to the sender, and we name the standard each code is
  from, "ISO 3166-2" for a region (``AF-KAB``) and "ISO 3166-1" for a whole country
  (its alpha-2 code, ``AF``). CAP cannot subtract an area, so excluded regions lie
  inside the country's geocode and are named only in ``areaDesc``.
"""

from __future__ import annotations

import datetime
import re
from decimal import Decimal
from xml.etree import ElementTree as ET

from django.conf import settings
from django.utils import translation
from django.utils.text import Truncator
from django.utils.translation import gettext

from alerts.levels import level_name
from alerts.models import Alert, AlertText, Area
from alerts.services.messages import TEST_PREFIX, alert_values
from alerts.services.rendering import compile_text

NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
#: what ``<status>`` says for a live and for a test alert
STATUS_ACTUAL = "Actual"
STATUS_TEST = "Test"
#: states in which an alert has been approved (and so may be exported)
APPROVED_STATES = frozenset({Alert.State.SCHEDULED, Alert.State.SENDING, Alert.State.SENT, Alert.State.ABORTED})
#: CAP suggests a headline of about 160 characters
HEADLINE_CHARS = 160
#: The RFC 3066 tag CAP's ``<language>`` gives for a project language code, where the
#: code alone would say less (CAP 1.2 section 3.2.2). The project's "fa" is Dari,
#: Persian as spoken in Afghanistan ("fa" alone reads as Iranian Persian); every
#: other code (en, ps, ar, fr) is already the tag.
CAP_LANGUAGE_TAGS = {"fa": "fa-AF"}

_LINKS = ("checkin_link", "unsubscribe_link")
_LEFT_OUT = {"name": "", "checkin_words": "", "checkin_link": "", "unsubscribe_link": ""}
_SPACE_BEFORE_PUNCTUATION = re.compile(r"[ \t]+([,.;:!?،؛؟])")
_SPACES = re.compile(r"[ \t]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def identifier(alert: Alert) -> str:
    """The alert's CAP identifier: stable, and unique for this sender."""
    return f"{settings.CAP_SENDER}:alert:{alert.pk}"


def cap_time(moment: datetime.datetime) -> str:
    """A CAP dateTime: UTC with an explicit offset, whole seconds."""
    return moment.astimezone(datetime.UTC).replace(microsecond=0).isoformat()


def can_export(alert: Alert) -> bool:
    """Whether ``alert`` has been approved, so that a CAP document of it exists."""
    return alert.state in APPROVED_STATES and alert.approved_at is not None


def _only_a_label(line: str) -> bool:
    """Whether ``line`` is what is left of one that only introduced something personal:
    nothing, a short label ending in a colon ("Tell us how you are:"), or a salutation
    ("Dear,", "عزیز،")."""
    words = line.split()
    if not words:
        return True
    if line.endswith((":", "：")):
        return len(words) <= 6
    if line.endswith((",", "،")):
        return len(words) <= 2
    return False


def _public_text(text: str, values: dict[str, str]) -> str:
    """``text`` with the alert's placeholders filled and the personal ones left out.

    A line that held a personal placeholder and keeps only a label or a salutation is
    dropped with it, and so is a label on the line before it ("Check in:" above
    "{checkin_link}").
    """
    lines: list[str] = []
    for line in (text or "").split("\n"):
        try:
            compiled = compile_text(line)
        except ValueError:  # malformed braces, in a row written around the services
            lines.append(line)
            continue
        filled = compiled.render(values)
        filled = _SPACES.sub(" ", _SPACE_BEFORE_PUNCTUATION.sub(r"\1", filled)).strip()
        if compiled.fields & _LEFT_OUT.keys() and _only_a_label(filled):
            if not filled and lines and lines[-1].rstrip().endswith((":", "：")):
                lines.pop()  # the label of what was left out
            continue
        lines.append(filled)
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _decimal(value: Decimal) -> str:
    """A decimal without trailing zeros or an exponent: 25.00 -> "25", 34.5 -> "34.5"."""
    return format(value.normalize(), "f")


def _area_description(alert: Alert, areas: list[Area], excluded: list[Area], language: str) -> str:
    parts = []
    if areas:
        names = ", ".join(area.name_in(language) for area in areas)
        if excluded:
            names = gettext("%(areas)s, except %(regions)s") % {
                "areas": names,
                "regions": ", ".join(area.name_in(language) for area in excluded),
            }
        parts.append(names)
    if _has_circle(alert):
        place = alert.center_name or f"{_decimal(alert.center_latitude)}, {_decimal(alert.center_longitude)}"
        parts.append(
            gettext("within %(radius)s km of %(place)s") % {"radius": _decimal(alert.radius_km), "place": place}
        )
    return "; ".join(parts)


def _has_circle(alert: Alert) -> bool:
    return alert.center_latitude is not None and alert.center_longitude is not None and bool(alert.radius_km)


def _event(alert: Alert) -> str:
    if alert.advisory_level is not None:
        return gettext("Travel advisory level %(level)s: %(level_name)s") % {
            "level": alert.advisory_level,
            "level_name": level_name(alert.advisory_level),
        }
    return str(Alert.Category(alert.category).label)


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, f"{{{NAMESPACE}}}{tag}")
    if text is not None:
        element.text = text
    return element


def _info(alert: Alert, text: AlertText, areas: list[Area], excluded: list[Area], root: ET.Element) -> None:
    language = text.language
    values = dict(alert_values(alert, language, areas), **_LEFT_OUT)
    prefix = TEST_PREFIX if alert.is_test else ""
    sms = _public_text(text.sms_text, values)
    headline = _public_text(text.email_subject, values).replace("\n", " ") or Truncator(sms.replace("\n", " ")).chars(
        HEADLINE_CHARS
    )
    description = _public_text(text.email_body, values) or sms
    info = _sub(root, "info")
    with translation.override(language):
        _sub(info, "language", cap_language(language))
        _sub(info, "category", alert.category)
        _sub(info, "event", _event(alert))
        _sub(info, "responseType", alert.response_type)
        _sub(info, "urgency", alert.urgency)
        _sub(info, "severity", alert.severity)
        _sub(info, "certainty", alert.certainty)
        if alert.expires_at is not None:
            _sub(info, "expires", cap_time(alert.expires_at))
        _sub(info, "senderName", settings.EMAIL_FROM_NAME)
        if headline:
            _sub(info, "headline", prefix + headline)
        if description:
            _sub(info, "description", prefix + description)
        _sub(info, "web", settings.PUBLIC_BASE_URL + "/")
        area = _sub(info, "area")
        _sub(area, "areaDesc", _area_description(alert, areas, excluded, language))
        if _has_circle(alert):
            _sub(
                area,
                "circle",
                f"{_decimal(alert.center_latitude)},{_decimal(alert.center_longitude)} {_decimal(alert.radius_km)}",
            )
        for each in areas:
            geocode = _sub(area, "geocode")
            if each.is_country:
                _sub(geocode, "valueName", "ISO 3166-1")
                _sub(geocode, "value", each.country.code)
            else:
                _sub(geocode, "valueName", "ISO 3166-2")
                _sub(geocode, "value", each.region)


def cap_language(code: str) -> str:
    """The CAP ``<language>`` tag of a project language code: "fa-AF" for "fa" (Dari),
    the code itself for the others ("en", "ps")."""
    return CAP_LANGUAGE_TAGS.get(code, code)


def _languages_order(texts: list[AlertText], fallback: str) -> list[AlertText]:
    """The fallback language first, then the others in the order of ALERT_LANGUAGES."""
    order = {code: index for index, (code, _name) in enumerate(settings.ALERT_LANGUAGES)}
    return sorted(texts, key=lambda t: (t.language != fallback, order.get(t.language, len(order)), t.language))


def cap_xml(alert: Alert) -> bytes:
    """The CAP 1.2 document of an approved alert, UTF-8 XML with a declaration.

    Raises ValueError when ``alert`` has not been approved (``can_export``), or when
    it corrects an alert that never was (an Update or Cancel must reference an issued
    message).
    """
    if not can_export(alert):
        raise ValueError(f"alert {alert.pk} has not been approved: it has no CAP document")
    root = ET.Element(f"{{{NAMESPACE}}}alert")
    _sub(root, "identifier", identifier(alert))
    _sub(root, "sender", settings.CAP_SENDER)
    _sub(root, "sent", cap_time(alert.approved_at))
    _sub(root, "status", STATUS_TEST if alert.is_test else STATUS_ACTUAL)
    _sub(root, "msgType", alert.msg_type)
    _sub(root, "scope", "Public")
    if alert.msg_type != Alert.MsgType.ALERT and alert.references_id:
        original = alert.references
        if original.approved_at is None:
            raise ValueError(f"alert {alert.pk} corrects alert {original.pk}, which was never approved")
        _sub(root, "references", ",".join((settings.CAP_SENDER, identifier(original), cap_time(original.approved_at))))
    areas = list(alert.areas.all())
    excluded = list(alert.excluded_areas.all())
    texts = [
        text
        for text in AlertText.objects.filter(alert=alert)
        if text.sms_text.strip() or text.email_subject.strip() or text.email_body.strip()
    ]
    for text in _languages_order(texts, alert.fallback_language):
        _info(alert, text, areas, excluded, root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True, default_namespace=NAMESPACE)
