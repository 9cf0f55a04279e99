"""The development outbox: messages are stored and shown on /dev/outbox/, never sent."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from alerts.channels.base import Channel, ChannelError, OutgoingMessage, RateLimiter, SendResult


class OutboxChannel(Channel):
    """Keeps every message in ``OutboxMessage``; used by the embedded default."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def _row(self, message: OutgoingMessage):  # type: ignore[no-untyped-def]
        from alerts.models import OutboxMessage

        return OutboxMessage(
            channel=self.kind,
            to=message.to,
            subject=message.subject,
            body=message.body,
            html_body=message.html_body,
            headers=message.all_headers(),
            reference=message.reference,
            provider_message_id=("SM" if self.kind == "sms" else "EM") + uuid.uuid4().hex,
        )

    def send(self, message: OutgoingMessage) -> SendResult:
        if not message.to:
            raise ChannelError("no address", permanent=True, code="no-address")
        row = self._row(message)
        row.save()
        return SendResult(provider_message_id=row.provider_message_id)

    def send_batch(
        self, messages: Sequence[OutgoingMessage], limiter: RateLimiter | None = None
    ) -> list[SendResult | ChannelError]:
        # Nothing leaves the machine, so ``limiter`` has nothing to pace.
        from alerts.models import OutboxMessage

        results: list[SendResult | ChannelError] = []
        rows = []
        for message in messages:
            if not message.to:
                results.append(ChannelError("no address", permanent=True, code="no-address"))
                continue
            row = self._row(message)
            rows.append(row)
            results.append(SendResult(provider_message_id=row.provider_message_id))
        OutboxMessage.objects.bulk_create(rows)
        return results
