"""The development outbox: messages are stored and shown on /dev/outbox/, never sent."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from alerts.channels.base import Channel, ChannelError, OutgoingMessage, RateLimiter, SendResult


class OutboxChannel(Channel):
    """Keeps every message in ``OutboxMessage``; used by the embedded default."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def send(self, message: OutgoingMessage) -> SendResult:
        from alerts.models import OutboxMessage

        if not message.to:
            raise ChannelError("no address", permanent=True, code="no-address")
        provider_id = ("SM" if self.kind == "sms" else "EM") + uuid.uuid4().hex
        OutboxMessage.objects.create(
            channel=self.kind,
            to=message.to,
            subject=message.subject,
            body=message.body,
            html_body=message.html_body,
            headers=message.all_headers(),
            reference=message.reference,
            provider_message_id=provider_id,
        )
        return SendResult(provider_message_id=provider_id)

    def send_batch(
        self, messages: Sequence[OutgoingMessage], limiter: RateLimiter | None = None
    ) -> list[SendResult | ChannelError]:
        # Nothing leaves the machine, so ``limiter`` has nothing to pace.
        from alerts.models import OutboxMessage

        rows = [
            OutboxMessage(
                channel=self.kind,
                to=m.to,
                subject=m.subject,
                body=m.body,
                html_body=m.html_body,
                headers=m.all_headers(),
                reference=m.reference,
                provider_message_id=("SM" if self.kind == "sms" else "EM") + uuid.uuid4().hex,
            )
            for m in messages
        ]
        OutboxMessage.objects.bulk_create(rows)
        return [SendResult(provider_message_id=row.provider_message_id) for row in rows]
