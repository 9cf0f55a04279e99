"""Two-factor authentication for staff: TOTP devices from django-otp."""

from __future__ import annotations

import datetime
import secrets
from base64 import b32encode
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

ENROLMENT_DEVICE_NAME = "console (enrolling)"
DEVICE_NAME = "console"
#: An unconfirmed django-otp static device holding a user's one-time set-up code:
#: unconfirmed, so it never counts as a second factor at sign-in.
SETUP_DEVICE_NAME = "console set-up code"


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


# --- set-up codes -------------------------------------------------------------------------


def issue_setup_code(user: Any) -> str:
    """A new one-time code with which ``user`` may set up an authenticator (earlier
    codes stop working). Shown once, as four groups of four characters."""
    code = b32encode(secrets.token_bytes(10)).decode().lower()  # 80 bits, 16 characters
    with transaction.atomic():
        StaticDevice.objects.filter(user=user, name=SETUP_DEVICE_NAME).delete()
        device = StaticDevice.objects.create(user=user, name=SETUP_DEVICE_NAME, confirmed=False)
        device.token_set.create(token=code)
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def redeem_setup_code(user: Any, code: str) -> bool:
    """Use up ``user``'s set-up code if ``code`` is it and it has not expired
    (``OTP_SETUP_CODE_HOURS``). Wrong tries slow further tries down (django-otp)."""
    code = "".join(ch for ch in (code or "").lower() if ch.isalnum())
    with transaction.atomic():
        device = (
            StaticDevice.objects.select_for_update().filter(user=user, name=SETUP_DEVICE_NAME, confirmed=False).first()
        )
        if device is None:
            return False
        oldest = timezone.now() - datetime.timedelta(hours=settings.OTP_SETUP_CODE_HOURS)
        if device.created_at is None or device.created_at < oldest:
            device.delete()
            return False
        if not code or not device.verify_token(code):
            return False
        device.delete()
        return True
