"""Placeholders in alert wording: checked when saved, compiled once, filled per recipient.

Texts use ``{placeholder}`` with the names in ``PLACEHOLDERS``; ``{{`` and ``}}`` are
literal braces. Anything else in braces (an unknown name, a format spec such as
``{name:>10}``, attribute access ``{name.x}``, an unclosed ``{``) is an error found when a
template or alert text is saved or submitted, never while 50,000 messages are rendered.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

#: placeholder -> what it becomes (shown to staff next to the template editor); lazy, so
#: each page shows it in the language it is served in
PLACEHOLDERS: dict[str, str | Promise] = {
    "name": _("the recipient's name"),
    "area": _("the area the alert is for"),
    "level": _("the advisory level number"),
    "level_name": _("the advisory level's words, e.g. Do not travel"),
    "checkin_words": _("how to answer by SMS, e.g. Reply SAFE, NEED or LEFT"),
    "checkin_link": _("the recipient's personal check-in link"),
    "unsubscribe_link": _("the recipient's link to stop these messages"),
}
#: filled once per alert (when drafted from a template), the same for every recipient
ALERT_PLACEHOLDERS = frozenset({"area", "level", "level_name"})
#: filled per recipient when the message is rendered
RECIPIENT_PLACEHOLDERS = frozenset(PLACEHOLDERS) - ALERT_PLACEHOLDERS

#: the text fields of AlertTemplate / AlertText that may hold placeholders
TEXT_FIELDS = ("sms_text", "email_subject", "email_body")

_formatter = string.Formatter()


def placeholder_errors(text: str, allowed: Iterable[str] = PLACEHOLDERS) -> list[str]:
    """Return what is wrong with the placeholders in ``text`` (empty when it is fine)."""
    allowed = frozenset(allowed)
    errors: list[str] = []
    try:
        parts = list(_formatter.parse(text or ""))
    except ValueError as exc:
        return [gettext("Unbalanced braces (%(error)s); write {{ or }} for a literal brace.") % {"error": exc}]
    for _literal, field, spec, conversion in parts:
        if field is None:
            continue
        if field == "" or field.isdigit():
            errors.append(gettext("Empty braces {} are not a placeholder; write {{}} for literal braces."))
        elif field not in allowed:
            known = ", ".join("{" + name + "}" for name in sorted(allowed))
            errors.append(
                gettext("Unknown placeholder %(placeholder)s. Known: %(known)s.")
                % {
                    "placeholder": "{" + field + "}",
                    "known": known,
                }
            )
        elif spec or conversion:
            errors.append(
                gettext("Placeholder %(placeholder)s takes no format or conversion; write just %(placeholder)s.")
                % {"placeholder": "{" + field + "}"}
            )
    return errors


def placeholder_errors_by_field(obj: object, allowed: Iterable[str] = PLACEHOLDERS) -> dict[str, list[str]]:
    """Errors per text field of an AlertTemplate or AlertText (for ``ValidationError``)."""
    errors: dict[str, list[str]] = {}
    for field in TEXT_FIELDS:
        found = placeholder_errors(getattr(obj, field, "") or "", allowed)
        if found:
            errors[field] = found
    return errors


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def fill_alert_placeholders(text: str, values: Mapping[str, str]) -> str:
    """Fill the per-alert placeholders in ``values``; leave the rest as placeholders.

    The result is still a valid template (literal braces stay escaped).
    """
    out: list[str] = []
    for literal, field, _spec, _conv in _formatter.parse(text or ""):
        out.append(_escape(literal))
        if field is None:
            continue
        if field in values:
            out.append(_escape(str(values[field])))
        else:
            out.append("{" + field + "}")
    return "".join(out)


@dataclass(frozen=True)
class CompiledText:
    """A checked template split once into literal text and placeholder names."""

    parts: tuple[tuple[str, str | None], ...]

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(field for _lit, field in self.parts if field)

    def render(self, values: Mapping[str, str]) -> str:
        out: list[str] = []
        for literal, field in self.parts:
            out.append(literal)
            if field:
                out.append(values.get(field, ""))
        return "".join(out)


def compile_text(text: str) -> CompiledText:
    """Compile a text already checked by ``placeholder_errors``.

    Raises ValueError for malformed braces: texts are checked when saved, so this only
    fires for rows written around the services.
    """
    parts = tuple((literal, field or None) for literal, field, _spec, _conv in _formatter.parse(text or ""))
    return CompiledText(parts=parts)
