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


def _redact_contacts_in_gunicorn_logs() -> None:
    """Mask contacts in gunicorn's own error log as everywhere else (``embassy.logging``).

    gunicorn writes its error log (errors Django did not catch, with their tracebacks)
    through handlers of its own that the project's LOGGING never sees. Adding the filter
    here keeps the access log off; a ``logconfig_dict`` would turn it back on.
    """
    from embassy.logging import redact_handlers

    redact_handlers("gunicorn.error")


def on_starting(server: object) -> None:
    """In the arbiter, once its logging is set up."""
    _redact_contacts_in_gunicorn_logs()


def post_fork(server: object, worker: object) -> None:
    """In each worker too: a reload sets gunicorn's logging up anew."""
    _redact_contacts_in_gunicorn_logs()
