"""Production: every secret and address from the environment, HTTPS everywhere."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from embassy.deployment import check_secret_key_fallbacks, require_deployment_settings
from embassy.env import env_bool, env_int

from .base import *  # noqa: F403

if not SECRET_KEY or len(SECRET_KEY) < 40:  # noqa: F405
    raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) must be set to at least 40 random characters")
check_secret_key_fallbacks(SECRET_KEY, SECRET_KEY_FALLBACKS)  # noqa: F405
if not ALLOWED_HOSTS:  # noqa: F405
    raise ImproperlyConfigured("ALLOWED_HOSTS must name the hosts this site answers to")
# A staging deployment that must send nothing may keep the development outbox: say so.
ALLOW_OUTBOX_BACKENDS = env_bool("ALLOW_OUTBOX_BACKENDS", False)
# The outbox, links to 127.0.0.1, tasks inside web requests, SQLite: stop here, naming each.
require_deployment_settings(globals(), allow_outbox=ALLOW_OUTBOX_BACKENDS)

SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
# Load balancers ask for /healthz over plain HTTP on the private network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
