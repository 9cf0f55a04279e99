"""gunicorn's settings for ``gunicorn embassy.wsgi``: gunicorn reads this file from the
working directory. The defaults are what the registration load test measures
(``bench/registration.py``: 3 gthread workers x 4 threads on 2 CPUs); a deployment sets
``GUNICORN_WORKERS`` / ``GUNICORN_THREADS`` for its own machine (about one worker per
CPU plus one). Command-line flags still win over this file.
"""

from __future__ import annotations

import os


def _positive(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise SystemExit(f"{name} must be a whole number of at least 1, not {raw!r}")
    return value


wsgi_app = "embassy.wsgi"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = _positive("GUNICORN_WORKERS", 3)
# Threads keep keep-alive connections open and overlap the waits on PostgreSQL and Redis.
worker_class = "gthread"
threads = _positive("GUNICORN_THREADS", 4)
timeout = 30
graceful_timeout = 30
# Access logs would carry the signed links' tokens: the app logs what it needs itself.
accesslog = None
