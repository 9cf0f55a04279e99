"""Console fixtures: staff in each role, with authenticators, and signed-in clients."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from alerts.console.permissions import Role, assign_role
from tests.factories import TEST_PASSWORD, UserFactory


def current_code(device: TOTPDevice, offset_steps: int = 0) -> str:
    """The six digits the staff member's authenticator shows now (or ``offset_steps`` away)."""
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift + offset_steps)
    return f"{code:0{device.digits}d}"


def wrong_code(device: TOTPDevice) -> str:
    """Six digits that match none of the codes the device accepts around now."""
    accepted = {current_code(device, offset) for offset in range(-2, 3)}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in accepted)


def make_staff(*roles: Role, device: bool = True, username: str | None = None):  # type: ignore[no-untyped-def]
    user = UserFactory(**({"username": username} if username else {}))
    for role in roles:
        assign_role(user, role)
    if device:
        TOTPDevice.objects.create(user=user, name="console", confirmed=True)
    return user


def sign_in(client: Client, user, *, verified: bool = True) -> Client:  # type: ignore[no-untyped-def]
    """Sign ``user`` in; ``verified`` also marks the session as having passed two-factor."""
    client.force_login(user)
    if verified:
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        assert device is not None, "a verified session needs a confirmed device"
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


@pytest.fixture
def author(db):  # type: ignore[no-untyped-def]
    return make_staff(Role.AUTHOR, device=False, username="amina.author")


@pytest.fixture
def approver(db):  # type: ignore[no-untyped-def]
    return make_staff(Role.APPROVER, username="bilal.approver")


@pytest.fixture
def second_approver(db):  # type: ignore[no-untyped-def]
    return make_staff(Role.APPROVER, username="chen.approver")


@pytest.fixture
def administrator(db):  # type: ignore[no-untyped-def]
    return make_staff(Role.ADMINISTRATOR, username="dana.admin")


@pytest.fixture
def author_client(author) -> Client:  # type: ignore[no-untyped-def]
    return sign_in(Client(), author, verified=False)


@pytest.fixture
def approver_client(approver) -> Client:  # type: ignore[no-untyped-def]
    return sign_in(Client(), approver)


@pytest.fixture
def signed_in() -> Callable[..., Client]:
    return lambda user, verified=True: sign_in(Client(), user, verified=verified)


__all__ = ["TEST_PASSWORD", "current_code", "make_staff", "sign_in", "wrong_code"]
