"""The one contract every channel implementation keeps.

A channel takes fully rendered messages and hands them to a provider (or to the
development outbox). ``send`` returns the provider's id for the message and raises
``ChannelError`` on failure, with ``permanent`` saying whether trying again could help.
Provider-specific error codes are mapped to permanent or transient in the provider's own
module, never here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


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


@dataclass(frozen=True)
class SendResult:
    """The provider accepted the message and gave it this id."""

    provider_message_id: str


class ChannelError(Exception):
    """Sending failed. ``permanent`` failures must not be retried; transient ones may be.

    ``code`` is the provider's error code when it gave one (``21610``), and
    ``opted_out`` is True when the provider says the recipient opted out.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        code: str = "",
        opted_out: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.code = code
        self.opted_out = opted_out
        self.retry_after = retry_after


class Channel(ABC):
    """Base class of every channel implementation."""

    #: "sms" or "email"
    kind: str = ""

    @abstractmethod
    def send(self, message: OutgoingMessage) -> SendResult:
        """Send one message. Returns its provider id; raises ChannelError on failure."""

    def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[SendResult | ChannelError]:
        """Send several messages; one result (or the error) per message, in order.

        Providers that take batches (SendGrid's personalizations) override this.
        """
        results: list[SendResult | ChannelError] = []
        for message in messages:
            try:
                results.append(self.send(message))
            except ChannelError as exc:
                results.append(exc)
        return results
