"""Webhook endpoints. Each one verifies the caller, then hands the fields to a service.

A request that fails verification gets 403 and changes nothing. They are CSRF-exempt
because the provider's signature, not a browser cookie, is what authenticates them.
"""

from __future__ import annotations

import json
import logging

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.twiml.messaging_response import MessagingResponse

from alerts.services.delivery_status import record_email_events, record_sms_status
from alerts.services.inbound import record_inbound_sms
from alerts.webhooks.verify import sendgrid_request_is_valid, twilio_request_is_valid

logger = logging.getLogger(__name__)


def _forbidden(what: str) -> HttpResponse:
    logger.warning("%s webhook refused: signature not valid", what)
    return HttpResponseForbidden("signature not valid", content_type="text/plain")


@csrf_exempt
@require_POST
def twilio_status(request: HttpRequest) -> HttpResponse:
    """Twilio message status callback: moves the delivery along its states."""
    if not twilio_request_is_valid(request):
        return _forbidden("twilio status")
    record_sms_status(
        request.POST.get("MessageSid", ""),
        request.POST.get("MessageStatus") or request.POST.get("SmsStatus", ""),
        error_code=request.POST.get("ErrorCode", ""),
        reference=request.GET.get("ref", ""),
    )
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def twilio_inbound(request: HttpRequest) -> HttpResponse:
    """Twilio inbound SMS: records it and answers with TwiML in the response."""
    if not twilio_request_is_valid(request):
        return _forbidden("twilio inbound")
    message_sid = request.POST.get("MessageSid") or request.POST.get("SmsSid", "")
    from_number = request.POST.get("From", "")
    if not message_sid or not from_number:
        return HttpResponseBadRequest("MessageSid and From are required", content_type="text/plain")
    result = record_inbound_sms(
        message_sid,
        from_number,
        request.POST.get("To", ""),
        request.POST.get("Body", ""),
        opt_out_type=request.POST.get("OptOutType", ""),
    )
    twiml = MessagingResponse()
    if result.reply:
        twiml.message(result.reply)
    return HttpResponse(str(twiml), content_type="text/xml; charset=utf-8")


@csrf_exempt
@require_POST
def sendgrid_events(request: HttpRequest) -> HttpResponse:
    """SendGrid signed Event Webhook: a JSON array of events about emails we sent."""
    if not sendgrid_request_is_valid(request):
        return _forbidden("sendgrid events")
    try:
        events = json.loads(request.body)
    except ValueError:
        return HttpResponseBadRequest("body is not JSON", content_type="text/plain")
    if not isinstance(events, list):
        return HttpResponseBadRequest("body is not a JSON array of events", content_type="text/plain")
    record_email_events(events)
    return HttpResponse(status=204)
