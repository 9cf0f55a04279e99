"""``GET /healthz``: can this web process reach what it needs, and is the sweep running?

For load balancers and monitoring: no sign-in, nothing about the configuration in the
answer (no host names, no versions), a 1-second limit on each check.

- ``database``: ``SELECT 1`` on the default database;
- ``broker``: a PING to Redis (the Celery broker and the cache), or ``in-process`` when
  tasks run in this process (the embedded defaults);
- ``sweep_age_s``: seconds since the delivery sweep (Celery beat, every
  ``DELIVERY_SWEEP_EVERY_SECONDS``) last finished, from the cache; ``null`` before the
  first. Reported, not judged: a web server must not be taken out of service because
  the workers are down, but monitoring should page someone when this grows.
- ``paused_channels``: channels whose provider refused the embassy's account
  (``alerts.services.pauses``), e.g. ``["sms"]``: reported, not judged, like the sweep;
  monitoring should page someone while it is not empty.

200 with ``"status": "ok"`` when the database and the broker answer, else 503 with
``"status": "fail"`` and which one did not.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

#: Cache key of the time the delivery sweep last finished (``alerts.tasks.sweep_deliveries``).
SWEEP_HEARTBEAT_KEY = "health:sweep-finished-at"
TIMEOUT_SECONDS = 1.0


def record_sweep() -> None:
    """Note that the sweep just finished; a cache outage must not fail the sweep."""
    try:
        cache.set(SWEEP_HEARTBEAT_KEY, time.time(), timeout=None)
    except Exception:  # the health page will say the broker is unreachable
        logger.warning("could not record the sweep's heartbeat in the cache")


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("health: database unreachable (%s)", type(exc).__name__)
        return "unreachable"
    return "ok"


def _broker() -> str:
    if not settings.REDIS_URL:
        return "in-process"
    import redis

    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
        )
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, OSError) as exc:
        logger.warning("health: broker unreachable (%s)", type(exc).__name__)
        return "unreachable"
    return "ok"


def _sweep_age() -> int | None:
    try:
        finished = cache.get(SWEEP_HEARTBEAT_KEY)
    except Exception:
        return None
    return max(0, round(time.time() - float(finished))) if finished else None


def _paused_channels() -> list[str]:
    from alerts.models import ChannelPause

    try:
        return sorted(ChannelPause.objects.values_list("channel", flat=True))
    except DatabaseError:
        return []


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, object] = {"database": _database(), "broker": _broker()}
    ok = checks["database"] == "ok" and checks["broker"] in ("ok", "in-process")
    checks["sweep_age_s"] = _sweep_age() if checks["broker"] != "unreachable" else None
    checks["paused_channels"] = _paused_channels() if checks["database"] == "ok" else None
    return JsonResponse({"status": "ok" if ok else "fail", "checks": checks}, status=200 if ok else 503)
