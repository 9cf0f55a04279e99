"""Session-wide test rules.

- Nothing may reach the network beyond loopback (``embassy.netguard``).
- Tests marked ``postgres``, ``redis`` or ``worker`` are skipped, with the reason, when
  that service is not reachable; with ``REQUIRE_SERVICES=1`` (CI) the run fails instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from django.conf import settings

from embassy.netguard import allow_loopback_only

allow_loopback_only()

# Fixture modules, one per part (each owned by the part that needs it).
pytest_plugins: list[str] = [
    "tests.fixtures.browser",
    "tests.fixtures.provider_stub",
    "tests.fixtures.redis_outage",
    "tests.fixtures.worker",
]
os.environ["EMBASSY_LOOPBACK_ONLY"] = "1"  # inherited by the worker processes tests start

_NEEDS = {"postgres": ("postgres",), "redis": ("redis",), "worker": ("postgres", "redis")}


def pytest_configure(config: pytest.Config) -> None:
    missing = getattr(settings, "SERVICES_MISSING", {})
    if missing and os.environ.get("REQUIRE_SERVICES") == "1":
        raise pytest.UsageError(
            "REQUIRE_SERVICES=1 but: " + "; ".join(missing.values()) + ". Start them (see .ci/run) and run again."
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = getattr(settings, "SERVICES_MISSING", {})
    if not missing:
        return
    for item in items:
        for marker, services in _NEEDS.items():
            if item.get_closest_marker(marker) is None:
                continue
            absent = [missing[name] for name in services if name in missing]
            if absent:
                item.add_marker(pytest.mark.skip(reason="service missing: " + "; ".join(absent)))
                break


def pytest_report_header(config: pytest.Config) -> list[str]:
    db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    lines = [f"database: {db}; broker: {'redis' if settings.REDIS_URL else 'in-memory'}"]
    for reason in getattr(settings, "SERVICES_MISSING", {}).values():
        lines.append(f"SERVICE MISSING: {reason} (tests that need it are skipped)")
    return lines


@pytest.fixture(autouse=True)
def _clean_cache() -> None:
    from django.core.cache import cache

    from alerts.services import pauses
    from tests.fixtures.redis_outage import forget_outages

    cache.clear()
    pauses.reset()  # no pause remembered, no server errors counted, from another test
    forget_outages()  # nor a Redis outage (a cache or broker failure of another test)
    from embassy.health import forget_background

    forget_background()  # nor what the console's banner last read of the background


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """Each test starts in the default language. A view run by the test client activates
    the request's language for the thread (a citizen's Dari, say) and nothing turns it
    off: a later test calling ``gettext`` directly would get Dari."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture
def admin_client(admin_user):  # type: ignore[no-untyped-def]
    """pytest-django's ``admin_client`` in a session that passed two-factor authentication
    (a confirmed TOTP device): the Django admin opens for nothing less (embassy.admin_site)."""
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=admin_user, name="console", confirmed=True)
    client = Client()
    client.force_login(admin_user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client
