"""Turning an alert and one delivery into the message that goes out.

Texts are compiled once per alert and language (placeholders were checked when saved),
then filled per recipient: their name, their personal check-in and unsubscribe links.
A recipient's language falls back to ``alert.fallback_language``. Every message of a
test alert starts with "TEST:" so that no one can take it for a live one.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext

from alerts.channels import OutgoingMessage
from alerts.channels.base import PersonalizedBatch, Recipient
from alerts.levels import level_name
from alerts.models import Alert, AlertText, Area, Delivery
from alerts.services import links
from alerts.services.rendering import CompiledText, compile_text

TEST_PREFIX = "TEST: "


class Renderable(Protocol):
    """What rendering reads of a delivery: ``Delivery``, or the sender's lighter
    ``ClaimedDelivery`` (a claim reads plain values, not model instances)."""

    pk: int
    channel: str
    address: str
    language: str

    @property
    def citizen(self) -> Any: ...  # a Citizen or fanout.Person (pk, full_name, email), or None


R = TypeVar("R", bound=Renderable)

#: The placeholders whose values differ per recipient.
_PERSONAL = ("name", "checkin_link", "unsubscribe_link")
_PERSONAL_SET = frozenset(_PERSONAL)


def checkin_words(language: str) -> str:
    """How to answer by SMS, in ``language`` (the words ``alerts.services.checkins`` reads)."""
    with translation.override(language):
        return gettext("Reply SAFE if you are safe, NEED if you need help, LEFT if you have left.")


def alert_values(alert: Alert, language: str, areas: Sequence[Area] | None = None) -> dict[str, str]:
    """The per-alert placeholder values for a text in ``language``: the area names in it
    (``Area.name_in``), the level's number and its words in it.

    ``areas``: the alert's areas, when the caller has them already.
    """
    if areas is None:
        areas = list(alert.areas.all())
    level = alert.advisory_level
    with translation.override(language):
        words = level_name(level) if level is not None else ""
    return {
        "area": alert.center_name or ", ".join(area.name_in(language) for area in areas),
        "level": str(level) if level is not None else "",
        "level_name": words,
    }


@dataclass(frozen=True)
class _Compiled:
    sms: CompiledText
    subject: CompiledText
    body: CompiledText

    @functools.cached_property
    def sms_personal(self) -> frozenset[str]:
        """The per-recipient placeholders the SMS text uses."""
        return self.sms.fields & _PERSONAL_SET

    @functools.cached_property
    def email_fields(self) -> frozenset[str]:
        """The placeholders the email's subject and body use."""
        return (self.subject.fields | self.body.fields) & _PERSONAL_SET

    @functools.cached_property
    def email_personal(self) -> frozenset[str]:
        """The per-recipient values an email needs: its text's, and always its unsubscribe
        link (the List-Unsubscribe header)."""
        return self.email_fields | {"unsubscribe_link"}


class AlertRenderer:
    """Renders an alert's messages, one recipient at a time, cheaply."""

    def __init__(self, alert: Alert) -> None:
        self.alert = alert
        self._areas = list(alert.areas.all())
        self._values: dict[str, dict[str, str]] = {}  # per text language
        self._texts: dict[str, _Compiled] = {}
        for text in AlertText.objects.filter(alert=alert):
            self._texts[text.language] = _Compiled(
                sms=compile_text(text.sms_text),
                subject=compile_text(text.email_subject),
                body=compile_text(text.email_body),
            )
        self._links = links.LinkMaker()
        self._test_names: dict[str, str] | None = None

    def _compiled(self, language: str) -> tuple[str, _Compiled]:
        if language in self._texts:
            return language, self._texts[language]
        fallback = self.alert.fallback_language
        if fallback in self._texts:
            return fallback, self._texts[fallback]
        raise LookupError(f"alert {self.alert.pk} has no text in {language!r} nor in {fallback!r}")

    def has_text(self, language: str) -> bool:
        """Whether a recipient asking for ``language`` gets a text (their own or the fallback)."""
        return language in self._texts or self.alert.fallback_language in self._texts

    def _test_name(self, address: str) -> str:
        if self._test_names is None:
            from alerts.models import StaffTestRecipient

            self._test_names = {}
            for name, phone, email in StaffTestRecipient.objects.values_list("name", "phone", "email"):
                if phone:
                    self._test_names[phone] = name
                if email:
                    self._test_names[email.lower()] = name
        return self._test_names.get(address, "")

    def _language_values(self, language: str) -> dict[str, str]:
        """The alert's placeholder values for a text in ``language`` (made once per language)."""
        values = self._values.get(language)
        if values is None:
            values = alert_values(self.alert, language, self._areas)
            values["checkin_words"] = checkin_words(language)
            self._values[language] = values
        return values

    def recipient_values(self, delivery: Renderable, wanted: frozenset[str] = _PERSONAL_SET) -> dict[str, str]:
        """The per-recipient placeholder values for ``delivery``: name and links.

        Only the placeholders in ``wanted`` are computed (each link is a keyed MAC or
        two): a text without links costs no link.
        """
        citizen = delivery.citizen
        if citizen is None:
            # A staff test recipient: no personal links exist; the site's address shows
            # where they would point.
            return {
                "name": self._test_name(delivery.address),
                "checkin_link": settings.PUBLIC_BASE_URL + "/",
                "unsubscribe_link": settings.PUBLIC_BASE_URL + "/",
            }
        values = {"name": citizen.full_name}
        if "checkin_link" in wanted:
            values["checkin_link"] = self._links.check_in(citizen, self.alert)
        if "unsubscribe_link" in wanted:
            # An email's link names the address it went to; an SMS's the citizen's email.
            address = delivery.address if delivery.channel == Delivery.Channel.EMAIL else None
            values["unsubscribe_link"] = self._links.unsubscribe(citizen, address)
        return values

    def _wanted(self, delivery: Renderable, compiled: _Compiled) -> frozenset[str]:
        """The per-recipient placeholders ``delivery``'s message needs: those its text
        uses, and an email's unsubscribe link (its List-Unsubscribe header)."""
        if delivery.channel == Delivery.Channel.SMS:
            return compiled.sms_personal
        return compiled.email_personal

    def _unsubscribe_url(self, delivery: Renderable, values: dict[str, str]) -> str:
        if delivery.channel != Delivery.Channel.EMAIL or delivery.citizen is None:
            return ""
        return values.get("unsubscribe_link", "")

    def render(self, delivery: Renderable) -> OutgoingMessage:
        """The message for ``delivery``. Raises LookupError when no text fits."""
        language, compiled = self._compiled(delivery.language)
        personal = self.recipient_values(delivery, self._wanted(delivery, compiled))
        values = dict(self._language_values(language), **personal)
        prefix = TEST_PREFIX if self.alert.is_test else ""
        reference = f"delivery:{delivery.pk}"
        if delivery.channel == Delivery.Channel.SMS:
            return OutgoingMessage(
                channel="sms", to=delivery.address, body=prefix + compiled.sms.render(values), reference=reference
            )
        return OutgoingMessage(
            channel="email",
            to=delivery.address,
            subject=prefix + compiled.subject.render(values),
            body=prefix + compiled.body.render(values),
            reference=reference,
            unsubscribe_url=self._unsubscribe_url(delivery, personal),
        )

    def sms_pattern(self, delivery: Renderable) -> re.Pattern[str]:
        """A pattern matching the SMS ``delivery`` would send, whenever it was rendered.

        Links carry a signing timestamp, so they match anything; the rest (the text,
        the name, the TEST prefix) must be equal. Used to recognise, at the provider, a
        message whose send outcome was lost.
        """
        language, compiled = self._compiled(delivery.language)
        values = dict(self._language_values(language), **self.recipient_values(delivery))
        values["checkin_link"] = values["unsubscribe_link"] = _WILDCARD
        text = (TEST_PREFIX if self.alert.is_test else "") + compiled.sms.render(values)
        return re.compile("".join(("^", ".*?".join(re.escape(part) for part in text.split(_WILDCARD)), "$")), re.S)

    def email_batches(self, deliveries: list[R]) -> list[tuple[PersonalizedBatch, list[R]]]:
        """Email deliveries grouped per language into provider batches.

        Each batch carries the text once, with a token for each per-recipient
        placeholder (``[%name%]``), and each recipient its values for those tokens, so
        that SendGrid personalises up to 1,000 recipients in one request. Deliveries with
        no text that fits raise LookupError before anything is built.
        """
        groups: dict[str, list[R]] = {}
        for delivery in deliveries:
            language, _compiled = self._compiled(delivery.language)
            groups.setdefault(language, []).append(delivery)
        prefix = TEST_PREFIX if self.alert.is_test else ""
        batches = []
        for language, members in groups.items():
            compiled = self._texts[language]
            values = dict(self._language_values(language), **_TOKENS)
            # Only the tokens the text holds are substituted, and only those values made.
            tokens = {name: token for name, token in _TOKENS.items() if name in compiled.email_fields}
            recipients = []
            for delivery in members:
                personal = self.recipient_values(delivery, compiled.email_personal)
                recipients.append(
                    Recipient(
                        to=delivery.address,
                        substitutions={token: personal[name] for name, token in tokens.items()},
                        reference=f"delivery:{delivery.pk}",
                        unsubscribe_url=self._unsubscribe_url(delivery, personal),
                    )
                )
            batch = PersonalizedBatch(
                subject=prefix + compiled.subject.render(values),
                body=prefix + compiled.body.render(values),
                recipients=recipients,
            )
            batches.append((batch, members))
        return batches


_WILDCARD = "\x00"
#: The token standing for each per-recipient placeholder in a batch's text.
_TOKENS = {name: f"[%{name}%]" for name in _PERSONAL}
