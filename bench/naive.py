"""The naive design, for comparison: what the pipeline would be without its batching.

One Celery task per recipient, an ORM ``save()`` per row, one blocking provider call at
a time through the SDKs' synchronous clients. Loaded into the benchmark's workers with
``celery -A embassy worker --include bench.naive``; never used by the product.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone


@shared_task(acks_late=True)
def naive_fan_out(alert_id: int, last_citizen_id: int) -> int:
    """Create one Delivery per address of citizens 1..last, each saved and queued on its own."""
    from alerts.models import Alert, Delivery
    from registrations.models import Citizen

    queued = 0
    for citizen in Citizen.objects.filter(pk__lte=last_citizen_id).order_by("pk").iterator():
        if citizen.pk % 100 == 0 and not Alert.objects.filter(pk=alert_id, state=Alert.State.SENDING).exists():
            break  # the benchmark stopped this run at its time limit
        for channel, address in (("sms", citizen.phone), ("email", citizen.email)):
            if not address:
                continue
            delivery = Delivery(
                alert_id=alert_id,
                channel=channel,
                address=address,
                citizen=citizen,
                language=citizen.preferred_language,
            )
            delivery.save()
            # On the channel's send queue: the same worker processes as the pipeline's.
            naive_send.apply_async((delivery.pk,), queue=settings.ALERT_SEND_QUEUES[channel])
            queued += 1
    return queued


@shared_task(acks_late=True)
def naive_send(delivery_id: int) -> str:
    """Load, claim, render, send (blocking), save: one message."""
    from alerts.models import Delivery
    from alerts.services.messages import AlertRenderer

    delivery = Delivery.objects.select_related("citizen", "alert").get(pk=delivery_id)
    if delivery.state != Delivery.State.QUEUED:
        return ""
    delivery.state = Delivery.State.SENDING
    delivery.attempts += 1
    delivery.save()
    message = AlertRenderer(delivery.alert).render(delivery)
    if delivery.channel == Delivery.Channel.SMS:
        from twilio.rest import Client

        client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN)
        client.api.base_url = settings.TWILIO_API_BASE_URL
        sid = client.messages.create(
            to=message.to,
            body=message.body,
            messaging_service_sid=settings.TWILIO_MESSAGING_SERVICE_SID,
            status_callback=settings.PUBLIC_BASE_URL + settings.TWILIO_STATUS_CALLBACK_PATH,
        ).sid
    else:
        from sendgrid import SendGridAPIClient

        sg = SendGridAPIClient(api_key=settings.SENDGRID_API_KEY, host=settings.SENDGRID_API_BASE_URL)
        personalization: dict[str, object] = {
            "to": [{"email": message.to}],
            "custom_args": {"reference": message.reference},
        }
        if message.all_headers():
            personalization["headers"] = message.all_headers()
        response = sg.client.mail.send.post(
            request_body={
                "personalizations": [personalization],
                "from": {"email": settings.EMAIL_FROM_ADDRESS},
                "subject": message.subject,
                "content": [{"type": "text/plain", "value": message.body}],
            }
        )
        sid = response.headers.get("X-Message-Id", "")
    delivery.state = Delivery.State.SENT
    delivery.provider_message_id = sid or ""
    delivery.sent_at = timezone.now()
    delivery.save()
    return sid
