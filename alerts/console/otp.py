"""Two-factor authentication for staff: TOTP devices from django-otp."""

from __future__ import annotations

from base64 import b32encode
from typing import Any

from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

ENROLMENT_DEVICE_NAME = "console (enrolling)"
DEVICE_NAME = "console"


def confirmed_devices(user: Any) -> list[TOTPDevice]:
    return list(TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk"))


def verify_code(user: Any, code: str) -> TOTPDevice | None:
    """The confirmed TOTP device of ``user`` that accepts ``code`` now, or None.

    A code is accepted once (django-otp remembers the last time step used), and failed
    tries slow the device down (django-otp's throttling).
    """
    code = (code or "").strip().replace(" ", "")
    if not code.isdigit():
        return None
    with transaction.atomic():
        for device in TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk"):
            if device.verify_token(code):
                return device
    return None


def pending_device(user: Any) -> TOTPDevice:
    """The user's unconfirmed enrolment device, created on first call (same secret after)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False, name=ENROLMENT_DEVICE_NAME).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, confirmed=False, name=ENROLMENT_DEVICE_NAME)
    return device


def confirm_enrolment(user: Any, code: str) -> TOTPDevice | None:
    """Confirm the pending device when ``code`` matches it; returns the device or None."""
    code = (code or "").strip().replace(" ", "")
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=False, name=ENROLMENT_DEVICE_NAME)
            .first()
        )
        if device is None or not code.isdigit() or not device.verify_token(code):
            return None
        device.confirmed = True
        device.name = DEVICE_NAME
        device.save(update_fields=["confirmed", "name"])
        return device


def base32_secret(device: TOTPDevice) -> str:
    return b32encode(device.bin_key).decode()
