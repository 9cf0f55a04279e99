"""The one contract every channel implementation keeps.

A channel takes fully rendered messages and hands them to a provider (or to the
development outbox). ``send`` returns the provider's id for the message and raises
``ChannelError`` on failure, with ``permanent`` saying whether trying again could help.
Provider-specific error codes are mapped to permanent or transient in the provider's own
module, never here.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

# RFC 8058 one-click unsubscribe: mail clients POST this body to the List-Unsubscribe URL.
LIST_UNSUBSCRIBE_POST = "List-Unsubscribe=One-Click"


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to one address. ``reference`` says what sent it (``delivery:42``)."""

    channel: str  # "sms" or "email"
    to: str  # E.164 number or email address
    body: str
    subject: str = ""
    html_body: str = ""
    reference: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    # Email only: this recipient's one-click unsubscribe link (List-Unsubscribe headers).
    unsubscribe_url: str = ""

    def all_headers(self) -> dict[str, str]:
        """``headers`` plus the List-Unsubscribe pair when there is an unsubscribe link."""
        headers = dict(self.headers)
        if self.unsubscribe_url:
            headers["List-Unsubscribe"] = f"<{self.unsubscribe_url}>"
            headers["List-Unsubscribe-Post"] = LIST_UNSUBSCRIBE_POST
        return headers


@dataclass(frozen=True)
class Recipient:
    """One addressee of a ``PersonalizedBatch``.

    ``substitutions`` maps a token that appears in the batch's subject and bodies
    (``-name-``, ``%link%``: any literal string) to this recipient's value. Values are
    inserted as given, also into the HTML body: escape them for HTML before.
    """

    to: str
    substitutions: Mapping[str, str] = field(default_factory=dict)
    reference: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    unsubscribe_url: str = ""


@dataclass(frozen=True)
class PersonalizedBatch:
    """One message template and its recipients, each with their own substitutions.

    Providers that personalise on their side (SendGrid) send the template once per
    request for up to 1,000 recipients; others render one message per recipient.
    """

    subject: str
    body: str
    recipients: Sequence[Recipient]
    html_body: str = ""
    channel: str = "email"

    def render(self, recipient: Recipient) -> OutgoingMessage:
        """The message ``recipient`` receives, substitutions applied."""
        subs = recipient.substitutions
        if subs:
            # One pass, longest token first, so a value is never substituted again.
            pattern = re.compile("|".join(re.escape(k) for k in sorted(subs, key=len, reverse=True) if k))

            def apply(text: str) -> str:
                return pattern.sub(lambda m: subs[m.group(0)], text) if text else text

        else:

            def apply(text: str) -> str:
                return text

        return OutgoingMessage(
            channel=self.channel,
            to=recipient.to,
            subject=apply(self.subject),
            body=apply(self.body),
            html_body=apply(self.html_body),
            reference=recipient.reference,
            headers=dict(recipient.headers),
            unsubscribe_url=recipient.unsubscribe_url,
        )


class RateLimiter(Protocol):
    """What ``send_batch`` needs of a rate limiter: a blocking ``acquire``."""

    def acquire(self) -> None: ...


@dataclass(frozen=True)
class SendResult:
    """The provider accepted the message and gave it this id."""

    provider_message_id: str


class ChannelError(Exception):
    """Sending failed. ``permanent`` failures must not be retried; transient ones may be.

    ``code`` is the provider's error code when it gave one (``21610``), and
    ``opted_out`` is True when the provider says the recipient opted out. ``account``
    is True when the provider refused the embassy's own account (credentials, sender
    identity): no message will pass until the configuration is fixed, so the channel
    pauses (``alerts.services.pauses``) and the attempt does not count. ``outage`` is
    True when the provider answered with a server error (HTTP 5xx): it did not take the
    message; many in a row pause the channel too. ``unreachable`` is True when the
    request timed out, or no connection to the provider could be made or kept: the
    provider may be down, and many in a row pause the channel as server errors do. Unlike
    ``outage`` it does not say the provider left the message alone: after a timeout or a
    dropped connection it may have taken it (the ``code``, "timeout", "connection" or
    "answer", tells the pipeline to look it up or never send it again).
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        code: str = "",
        opted_out: bool = False,
        retry_after: float | None = None,
        account: bool = False,
        outage: bool = False,
        unreachable: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.code = code
        self.opted_out = opted_out
        self.retry_after = retry_after
        self.account = account
        self.outage = outage
        self.unreachable = unreachable


class Channel(ABC):
    """Base class of every channel implementation."""

    #: "sms" or "email"
    kind: str = ""

    @abstractmethod
    def send(self, message: OutgoingMessage) -> SendResult:
        """Send one message. Returns its provider id; raises ChannelError on failure."""

    def send_batch(
        self, messages: Sequence[OutgoingMessage], limiter: RateLimiter | None = None
    ) -> list[SendResult | ChannelError]:
        """Send several messages; one result (or the error) per message, in order.

        When ``limiter`` is given, ``limiter.acquire()`` is called before each provider
        request. Providers that take batches (SendGrid's personalizations) or can keep
        many requests in flight (Twilio) override this.
        """
        results: list[SendResult | ChannelError] = []
        for message in messages:
            if limiter is not None:
                limiter.acquire()
            try:
                results.append(self.send(message))
            except ChannelError as exc:
                results.append(exc)
        return results

    def send_personalized(self, batch: PersonalizedBatch) -> list[SendResult | ChannelError]:
        """Send ``batch`` to each of its recipients; one result per recipient, in order.

        This default renders one message per recipient and sends them with
        ``send_batch``; SendGrid overrides it to personalise on the provider's side.
        """
        return self.send_batch([batch.render(recipient) for recipient in batch.recipients])


class BatchFirstChannel(Channel):
    """A channel whose batch send is the real path; one message is a batch of one."""

    def send(self, message: OutgoingMessage) -> SendResult:
        """Send one message through ``send_batch``; raises its ChannelError on failure."""
        result = self.send_batch([message])[0]
        if isinstance(result, ChannelError):
            raise result
        return result
