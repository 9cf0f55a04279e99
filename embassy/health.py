"""``GET /healthz``: can this web process serve requests, and what is down?

For load balancers and monitoring: no sign-in, nothing about the configuration in the
answer (no host names, no versions), a 1-second limit on each check.

The HTTP status answers the load balancer's question only: 503 when the database does
not answer (no page works without it), else 200. Redis down does not take a web server
out of service: the console (abort included), check-in and unsubscribe links, inbound
SMS and provider callbacks work on PostgreSQL alone. Monitoring reads the body instead:

- ``status``: ``ok``; ``degraded`` when the broker is unreachable (the web still serves,
  but no task is queued, so nothing is sent, verification codes included: page
  someone); ``fail`` when the database is unreachable (the 503);
- ``checks.database``: ``ok`` or ``unreachable``: ``SELECT 1`` on a connection of its
  own, given up after ``TIMEOUT_SECONDS`` whatever the network does (a database that
  hangs, a black-holed address), so the check never holds the web process;
- ``checks.broker``: ``ok``, ``unreachable``, or ``in-process`` when tasks run in this
  process (the embedded defaults): a PING to Redis (the Celery broker and the cache);
- ``checks.sweep_age_s``: seconds since the delivery sweep (Celery beat, every
  ``DELIVERY_SWEEP_EVERY_SECONDS``) last finished, from the cache; ``null`` before the
  first and while the broker is unreachable. Reported, not judged: a web server must
  not be taken out of service because the workers are down, but monitoring should page
  someone when this grows.
- ``checks.send_queue_age_s``: for each send queue (``send-sms``, ``send-email``), the
  seconds since a task on it last finished (``record_queue_activity``: any send task, or
  the heartbeat beat queues on it every ``DELIVERY_SWEEP_EVERY_SECONDS``); ``null``
  before the first. A queue whose workers are all down stops finishing anything and
  this grows without limit, while a long alert keeps it fresh with its own tasks.
  Reported, not judged; page someone when it passes a few minutes.
- ``checks.paused_channels``: channels whose provider refused the embassy's account
  (``alerts.services.pauses``), e.g. ``["sms"]``; ``null`` while the database is
  unreachable. Reported, not judged, like the sweep; monitoring should page someone
  while it is not empty.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

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


#: Cache key prefix of the time a task on a send queue last finished.
QUEUE_HEARTBEAT_KEY = "health:queue-finished-at:"
#: A process writes a queue's time at most this often (a cache round trip each).
QUEUE_HEARTBEAT_EVERY_SECONDS = 5.0
_queue_written: dict[str, float] = {}


def record_queue_activity(queue: str) -> None:
    """Note that a task on ``queue`` just finished, at most every few seconds per
    process; a cache outage must not fail the task."""
    now = time.time()
    if now - _queue_written.get(queue, 0.0) < QUEUE_HEARTBEAT_EVERY_SECONDS:
        return
    _queue_written[queue] = now
    try:
        cache.set(QUEUE_HEARTBEAT_KEY + queue, now, timeout=None)
    except Exception:
        logger.warning("could not record the %s queue's heartbeat in the cache", queue)


def _send_queue_ages() -> dict[str, int | None]:
    queues = sorted(settings.ALERT_SEND_QUEUES.values())
    try:
        seen = cache.get_many([QUEUE_HEARTBEAT_KEY + q for q in queues])
    except Exception:
        return dict.fromkeys(queues)
    ages: dict[str, int | None] = {}
    for queue in queues:
        finished = seen.get(QUEUE_HEARTBEAT_KEY + queue)
        ages[queue] = max(0, round(time.time() - float(finished))) if finished else None
    return ages


def record_sweep() -> None:
    """Note that the sweep just finished; a cache outage must not fail the sweep."""
    try:
        cache.set(SWEEP_HEARTBEAT_KEY, time.time(), timeout=None)
    except Exception:  # the health page will say the broker is unreachable
        logger.warning("could not record the sweep's heartbeat in the cache")


# Database checks run here, so that the request can stop waiting after TIMEOUT_SECONDS
# whatever the network does. A probe left behind ends by itself within its connection's
# own limits (below), so the few threads are never all stuck for long.
_probes = ThreadPoolExecutor(max_workers=4, thread_name_prefix="healthz-db")
#: libpq's connect_timeout (whole seconds, 2 at least) and the kernel's limit on
#: unacknowledged data (ms): they end a probe the request stopped waiting for.
PROBE_CONNECT_TIMEOUT_SECONDS = 2
PROBE_TCP_USER_TIMEOUT_MS = 1000


def _probe_params() -> dict[str, object]:
    """Connection parameters of the default database, as Django connects, with limits."""
    params = connection.get_connection_params()
    params["connect_timeout"] = PROBE_CONNECT_TIMEOUT_SECONDS
    params["tcp_user_timeout"] = PROBE_TCP_USER_TIMEOUT_MS
    return params


def _probe_postgresql(params: dict[str, object], query: str = "SELECT 1") -> None:
    """Run ``query`` on a new connection made with ``params``; raise what psycopg raises.

    The statement timeout is set by a SET, not a startup option, which a connection
    pooler in front of PostgreSQL might refuse."""
    import psycopg

    with psycopg.connect(**params) as probe:
        probe.execute(f"SET statement_timeout = {round(TIMEOUT_SECONDS * 1000)}")
        probe.execute(query).fetchone()


def _database() -> str:
    if connection.vendor != "postgresql":
        # SQLite (the embedded defaults): a local file, nothing to wait for.
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
        except DatabaseError as exc:
            logger.warning("health: database unreachable (%s)", type(exc).__name__)
            return "unreachable"
        return "ok"
    import psycopg

    probe = _probes.submit(_probe_postgresql, _probe_params())
    try:
        probe.result(timeout=TIMEOUT_SECONDS)
    except FutureTimeout:
        logger.warning("health: database unreachable (no answer within %ss)", TIMEOUT_SECONDS)
        return "unreachable"
    except (psycopg.Error, DatabaseError, OSError) as exc:
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


def broker_status() -> str:
    """``ok``, ``unreachable`` or ``in-process``: a PING to Redis, at most a second."""
    return _broker()


def database_status() -> str:
    """``ok`` or ``unreachable``: ``SELECT 1`` on a connection of its own, at most a second."""
    return _database()


def heartbeat_ages() -> tuple[int | None, dict[str, int | None]]:
    """The seconds since the sweep last finished, and since a task on each send queue
    did (``sweep_age_s`` and ``send_queue_age_s``); ``None`` where none is recorded, or
    the cache cannot be read."""
    return _sweep_age(), _send_queue_ages()


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


#: Past these, the console tells staff that background work has stopped (see
#: ``background_problems``); monitoring reads the same figures from /healthz.
SWEEP_STALE_SECONDS = 120
QUEUE_STALE_SECONDS = 300
#: The console asks at most this often per process (a PING and one cache read).
BACKGROUND_CHECK_EVERY_SECONDS = 5.0
_background: tuple[float, list[dict[str, object]]] | None = None


def _queue_stale_after(channel: str) -> float:
    """An SMS task sends ``SMS_TASK_CHUNK`` messages at the shared rate: with a slow
    sender (one long code: 1/s) one task alone outlasts five minutes."""
    if channel == "sms":
        return max(QUEUE_STALE_SECONDS, 4 * settings.SMS_TASK_CHUNK / settings.SMS_RATE_PER_SECOND)
    return QUEUE_STALE_SECONDS


def background_problems() -> list[dict[str, object]]:
    """What staff must know about the work done out of their sight, for the console's
    banner: ``{"kind": "broker"}`` when Redis does not answer (nothing is sent, approved
    alerts wait to start); ``{"kind": "sweep", "minutes": n}`` when beat's sweep has not
    run for ``SWEEP_STALE_SECONDS`` (beat or the ``celery`` queue's workers are down:
    alerts do not start or finish); ``{"kind": "queue", "channel": "sms", "minutes": n}``
    when no task finished on a send queue for ``QUEUE_STALE_SECONDS`` (its workers are
    down). Nothing with tasks run in-process, and nothing not yet known (no heartbeat
    recorded). Asked at most every ``BACKGROUND_CHECK_EVERY_SECONDS`` per process."""
    global _background
    now = time.monotonic()
    if _background is not None and now - _background[0] < BACKGROUND_CHECK_EVERY_SECONDS:
        return _background[1]
    problems: list[dict[str, object]] = []
    broker = _broker()
    if broker == "unreachable":
        problems.append({"kind": "broker"})
    elif broker == "ok":
        sweep = _sweep_age()
        if sweep is not None and sweep > SWEEP_STALE_SECONDS:
            problems.append({"kind": "sweep", "minutes": sweep // 60})
        ages = _send_queue_ages()
        for channel, queue in sorted(settings.ALERT_SEND_QUEUES.items()):
            age = ages.get(queue)
            if age is not None and age > _queue_stale_after(channel):
                problems.append({"kind": "queue", "channel": channel, "minutes": age // 60})
    _background = (now, problems)
    return problems


def forget_background() -> None:
    """Ask again at the next console page (tests)."""
    global _background
    _background = None


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 while this process can serve requests (the database answers), else 503; the
    body says what is down (module docstring)."""
    checks: dict[str, object] = {"database": _database(), "broker": _broker()}
    checks["sweep_age_s"] = _sweep_age() if checks["broker"] != "unreachable" else None
    if checks["broker"] == "ok":
        checks["send_queue_age_s"] = _send_queue_ages()
    else:  # tasks in this process (no queue to watch), or Redis unreachable
        checks["send_queue_age_s"] = None
    checks["paused_channels"] = _paused_channels() if checks["database"] == "ok" else None
    if checks["database"] != "ok":
        status = "fail"
    elif checks["broker"] == "unreachable":
        status = "degraded"
    else:
        status = "ok"
    return JsonResponse({"status": status, "checks": checks}, status=503 if status == "fail" else 200)
