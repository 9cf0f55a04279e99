"""The embedded default for a first run: SQLite, tasks in-process, the outbox page.

Nothing here is fit for a server facing the internet; ``production`` is.
"""

from __future__ import annotations

from embassy.env import env_bool, env_list, env_time_zone

from .base import *  # noqa: F403

DEBUG = env_bool("DEBUG", True)
# A development key, made per checkout and never committed.
if not SECRET_KEY:  # noqa: F405
    from embassy.devkey import development_secret_key

    SECRET_KEY = development_secret_key(BASE_DIR)  # noqa: F405
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
# Static files straight from the app folders (no collectstatic on a first run).
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True

# The demo's staff set up their authenticator at first sign-in (README); deployments
# (production settings) need a set-up code from an administrator.
OTP_ENROLMENT_NEEDS_SETUP_CODE = env_bool("OTP_ENROLMENT_NEEDS_SETUP_CODE", False)

# The demo is the embassy in Kabul (UTC+04:30): its staff read and type Kabul time.
EMBASSY_TIME_ZONE = env_time_zone("EMBASSY_TIME_ZONE", "Asia/Kabul")
