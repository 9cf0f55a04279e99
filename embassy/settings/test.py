"""Test settings: PostgreSQL and Redis when they are reachable, SQLite otherwise.

``scripts/test`` runs the suite with these. The real services are found at
``TEST_DATABASE_URL`` / ``TEST_REDIS_URL`` or, by default, on this machine's standard
ports. When one cannot be reached, the suite still runs on SQLite and an in-memory
broker, and ``SERVICES_MISSING`` says why, so that tests needing the real service are
skipped by name (and CI, which sets ``REQUIRE_SERVICES=1``, fails instead).
"""

from __future__ import annotations

import socket
from urllib.parse import urlparse

from embassy.env import env, env_db

from .base import *  # noqa: F403


def _reachable(url: str) -> bool:
    parts = urlparse(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=0.5):
            return True
    except OSError:
        return False


SERVICES_MISSING: dict[str, str] = {}

_db_url = env.str("TEST_DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/embassy")
if _reachable(_db_url):
    DATABASES = {"default": env_db("TEST_DATABASE_URL", _db_url)}
else:
    SERVICES_MISSING["postgres"] = f"PostgreSQL is not reachable at {urlparse(_db_url).netloc}; ran on SQLite"
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "test.sqlite3"}}  # noqa: F405

_redis_url = env.str("TEST_REDIS_URL", default="redis://127.0.0.1:6379/9")
if _reachable(_redis_url):
    REDIS_URL = _redis_url
else:
    SERVICES_MISSING["redis"] = f"Redis is not reachable at {urlparse(_redis_url).netloc}"
    REDIS_URL = None

# Tests keep their cache in process memory so each test starts clean; Redis is used
# where the real thing is the point (broker, shared rate limiter).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = True  # in-process unless a test starts a real worker

DEBUG = False
SECRET_KEY = "test-only-key-not-secret-" + "x" * 40
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; tests only
PUBLIC_BASE_URL = "http://testserver"
# Static files straight from the app folders (no collectstatic before a test run).
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True

# Tests that need set-up codes turn them on themselves (tests/console/test_setup_codes.py).
OTP_ENROLMENT_NEEDS_SETUP_CODE = False
CHANNEL_PAUSE_CHECK_SECONDS = 0.0  # tests change pauses between steps: always read them
