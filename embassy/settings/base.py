"""Settings shared by every deployment. Values that differ come from the environment."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_noop

from embassy.env import (
    env,
    env_bool,
    env_cap_name,
    env_choice,
    env_db,
    env_email_list,
    env_float,
    env_http_url,
    env_int,
    env_json,
    env_list,
    env_phone_list,
    env_rate,
    env_secret,
    env_secret_list,
    env_time_zone,
)

BASE_DIR = Path(__file__).resolve().parent.parent.parent

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_secret("SECRET_KEY")  # each deployment module decides what a missing one means
# Earlier keys, still accepted when checking what they signed (links already sent, Django's
# signing, SMS codes in flight) but never used to sign: a rotation moves the old SECRET_KEY
# here, and it is dropped once its links may go (the unsubscribe links in emails never expire).
SECRET_KEY_FALLBACKS = env_secret_list("SECRET_KEY_FALLBACKS")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Public address of this site, used in links we send (verification, self-service,
# check-in, unsubscribe) and in provider status-callback URLs.
PUBLIC_BASE_URL = env_secret("PUBLIC_BASE_URL", "http://127.0.0.1:8000") or ""
PUBLIC_BASE_URL = PUBLIC_BASE_URL.rstrip("/")

# Only when the deployment says a TLS-terminating proxy in front is trusted do we believe
# its X-Forwarded-Proto / X-Forwarded-Host; webhook signatures are then checked against
# the URL the provider called. Otherwise the request URL is used as received.
TRUST_FORWARDED_HEADERS = env_bool("TRUST_FORWARDED_HEADERS", False)
if TRUST_FORWARDED_HEADERS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True

INSTALLED_APPS = [
    # django.contrib.admin, its site behind the console's sign-in and second factor.
    "embassy.apps.StaffAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_countries",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "csp",  # django-csp: the Content-Security-Policy header (and its settings check)
    "registrations",
    "alerts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Pages, not static files (served above), get these two.
    "csp.middleware.CSPMiddleware",
    "embassy.security.PermissionsPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "alerts.console.middleware.ConsoleTimeZoneMiddleware",
    # Last, as django-axes asks: it turns lock-outs into a response.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "embassy.urls"
WSGI_APPLICATION = "embassy.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "alerts.console.context.console",
            ],
        },
    },
]

DATABASES = {"default": env_db("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env_int("DB_CONN_MAX_AGE", 60, minimum=0))
# A connection kept for CONN_MAX_AGE is checked before it is used again (a restarted
# database does not fail the next request or task).
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
# ``manage.py migrate`` on PostgreSQL: how long a migration may wait for a lock before it
# is rolled back and tried again, instead of holding up sending behind it (0: no limit).
MIGRATION_LOCK_TIMEOUT_SECONDS = env_float("MIGRATION_LOCK_TIMEOUT_SECONDS", 5.0, minimum=0)
# A database whose timeline changed (a replica promoted, or a point-in-time recovery)
# holds sending until an administrator resumes it, as a restored backup does
# (alerts.services.restore_guard). Off only where replicas are synchronous.
HOLD_SENDING_ON_NEW_TIMELINE = env_bool("HOLD_SENDING_ON_NEW_TIMELINE", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Language and time -------------------------------------------------------------
LANGUAGE_CODE = "en"
# Languages the web pages are translated into. Dari (Afghan Persian, written right to
# left) uses Django's "fa" locale.
LANGUAGES = [
    ("en", "English"),
    ("fa", "دری"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Languages a citizen may ask alerts in; alert texts fall back to ALERT_FALLBACK_LANGUAGE.
ALERT_LANGUAGES = [
    ("en", "English"),
    ("fa", "دری (Dari)"),
    ("ps", "پښتو (Pashto)"),
    ("ar", "العربية (Arabic)"),
    ("fr", "Français"),
]
ALERT_FALLBACK_LANGUAGE = "en"
# Times are stored, logged and sent to citizens in UTC. Staff read and type them in the
# post's own zone (an IANA name such as Asia/Kabul): the console turns it on for its
# pages (alerts.console.middleware.ConsoleTimeZoneMiddleware).
TIME_ZONE = "UTC"
EMBASSY_TIME_ZONE = env_time_zone("EMBASSY_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

# --- Cache (rate limits, lock-outs) --------------------------------------------------
REDIS_URL = env_secret("REDIS_URL")
# A Redis that does not answer fails a cache call within a second or two, not after the
# system's TCP timeouts (minutes): the registration rate limits then fail open
# (registrations.ratelimit) instead of holding the citizen's request.
REDIS_CACHE_OPTIONS = {"socket_connect_timeout": 1.0, "socket_timeout": 1.0}
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "embassy",
            "OPTIONS": REDIS_CACHE_OPTIONS,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery ---------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task leaves it on the broker
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60),
    # A worker consuming several queues takes its next task from each in turn, so no
    # channel's backlog can hold back the other's tasks (see CELERY_TASK_QUEUES).
    "queue_order_strategy": "round_robin",
    # A Redis host that does not answer fails a publish in seconds, not after the system's
    # TCP timeout: a registration's codes then wait in the database (alerts.notify).
    "socket_connect_timeout": 2.0,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery's Django fix-up closes the database connection before and after every task
# unless connections are reused; a fan-out queues thousands of tasks, each would open a
# new PostgreSQL connection. Workers keep Django's own rule instead (CONN_MAX_AGE and
# health checks, applied around each task in embassy.celery, as Django does around
# requests); this number only keeps the fix-up from closing them first.
CELERY_DB_REUSE_MAX = 1_000_000_000
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]


def task_queues(default: str, send_queues: dict[str, str]) -> list[object]:
    """The queues a worker started without ``-Q`` consumes: the default and one per channel.

    Each queue has its own direct exchange and routing key (what Celery makes for a
    queue it meets by name), so a task sent to one never lands in another.
    """
    from kombu import Exchange, Queue

    return [Queue(name, Exchange(name), routing_key=name) for name in (default, *send_queues.values())]


# Alert send tasks go to one queue per channel, so email never waits behind SMS in one
# FIFO. ``celery -A embassy worker`` consumes all three in turn (a strict order would let
# a long email backlog hold back the first SMS, or the other way round); a deployment
# gives each queue processes of its own (``-Q celery``, ``-Q send-email``, ``-Q
# send-sms``: README "Configuration"), so that neither channel waits for the other.
CELERY_TASK_DEFAULT_QUEUE = "celery"
ALERT_SEND_QUEUES = {"email": "send-email", "sms": "send-sms"}
CELERY_TASK_QUEUES = task_queues(CELERY_TASK_DEFAULT_QUEUE, ALERT_SEND_QUEUES)

# --- Channels (providers) ------------------------------------------------------------
# Which implementation carries each channel: "outbox" keeps messages on the development
# outbox page; "twilio" and "sendgrid" reach the providers through their SDKs.
SMS_BACKEND = env_choice("SMS_BACKEND", "outbox", ("outbox", "twilio"))
EMAIL_BACKEND_NAME = env_choice("EMAIL_BACKEND_NAME", "outbox", ("outbox", "sendgrid"))
TWILIO_ACCOUNT_SID = env_secret("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = env_secret("TWILIO_AUTH_TOKEN", "")
# A second token accepted on webhook signatures only, for the overlap of a rotation (the
# old and the new token both live at Twilio); the API client always uses the primary.
TWILIO_AUTH_TOKEN_SECONDARY = env_secret("TWILIO_AUTH_TOKEN_SECONDARY", "")
TWILIO_MESSAGING_SERVICE_SID = env_secret("TWILIO_MESSAGING_SERVICE_SID", "")
TWILIO_FROM_NUMBER = env_secret("TWILIO_FROM_NUMBER", "")
# Our numbers people text (E.164, comma-separated), whose inbound SMS the webhook missed
# are fetched later; TWILIO_FROM_NUMBER unless set. A Messaging Service's numbers.
TWILIO_INBOUND_NUMBERS = env_phone_list("TWILIO_INBOUND_NUMBERS")
# Base URL of the Twilio API; only the loopback provider stub ever changes it.
TWILIO_API_BASE_URL = env_secret("TWILIO_API_BASE_URL", "https://api.twilio.com") or ""
SENDGRID_API_KEY = env_secret("SENDGRID_API_KEY", "")
SENDGRID_API_BASE_URL = env_secret("SENDGRID_API_BASE_URL", "https://api.sendgrid.com") or ""
# Public key (base64 DER) of SendGrid's signed Event Webhook.
SENDGRID_WEBHOOK_PUBLIC_KEY = env_secret("SENDGRID_WEBHOOK_PUBLIC_KEY", "")
SENDGRID_WEBHOOK_MAX_AGE_SECONDS = env_int("SENDGRID_WEBHOOK_MAX_AGE_SECONDS", 600, minimum=1)
EMAIL_FROM_ADDRESS = env_secret("EMAIL_FROM_ADDRESS", "alerts@embassy.example") or ""
EMAIL_FROM_NAME = env_secret("EMAIL_FROM_NAME", "Embassy alerts") or ""
# CAP 1.2 <sender>, and the prefix of every alert's <identifier>: globally unique (a
# domain name or an address of the embassy's), and never changed once CAP documents
# are out, since an Update or Cancel names the alert it corrects by sender and identifier.
CAP_SENDER = env_cap_name("CAP_SENDER", "alerts@embassy.example")
PROVIDER_TIMEOUT_SECONDS = env_float("PROVIDER_TIMEOUT_SECONDS", 10.0, minimum=0.1)
# Messages per second for each SMS sender, shared by every worker through Redis.
SMS_RATE_PER_SECOND = env_int("SMS_RATE_PER_SECOND", 100, minimum=1)
# SMS requests one worker keeps in flight at once (the provider answers in 100-500 ms).
SMS_CONCURRENCY = env_int("SMS_CONCURRENCY", 50, minimum=1)

# --- Registration --------------------------------------------------------------------
VERIFICATION_CODE_TTL_SECONDS = env_int("VERIFICATION_CODE_TTL_SECONDS", 15 * 60, minimum=60)
VERIFICATION_MAX_ATTEMPTS = env_int("VERIFICATION_MAX_ATTEMPTS", 5, minimum=1)
SELF_SERVICE_LINK_TTL_SECONDS = env_int("SELF_SERVICE_LINK_TTL_SECONDS", 24 * 3600, minimum=300)
# "N/P" with P in s, m, h: per client address and per contact address.
REGISTRATION_RATE_PER_CLIENT = env_rate("REGISTRATION_RATE_PER_CLIENT", "20/h")
REGISTRATION_RATE_PER_ADDRESS = env_rate("REGISTRATION_RATE_PER_ADDRESS", "5/h")
CODE_ATTEMPT_RATE_PER_CLIENT = env_rate("CODE_ATTEMPT_RATE_PER_CLIENT", "30/h")
RATE_LIMITS_ENABLED = env_bool("RATE_LIMITS_ENABLED", True)
# Verification codes and links are never lost to Redis (registrations.verification_messages):
# beat queues again, this often, those whose publish failed at once, and those whose task
# was queued this long ago and not run (Redis lost it), while still valid this long.
VERIFICATION_REQUEUE_EVERY_SECONDS = env_float("VERIFICATION_REQUEUE_EVERY_SECONDS", 15.0, minimum=1.0)
VERIFICATION_REQUEUE_AFTER_SECONDS = env_int("VERIFICATION_REQUEUE_AFTER_SECONDS", 60, minimum=1)
VERIFICATION_REQUEUE_MIN_VALID_SECONDS = env_int("VERIFICATION_REQUEUE_MIN_VALID_SECONDS", 60, minimum=0)
VERIFICATION_REQUEUE_BATCH = env_int("VERIFICATION_REQUEUE_BATCH", 2000, minimum=1)
# A single-message task (codes, links) is stopped after this long, its process replaced
# (Celery's hard time limit, prefork workers): it sends at most two messages, each held
# to PROVIDER_TIMEOUT_SECONDS.
SINGLE_MESSAGE_TIME_LIMIT_SECONDS = env_int("SINGLE_MESSAGE_TIME_LIMIT_SECONDS", 60, minimum=10)
# A verification's message claimed this long ago whose provider's answer never came lost
# its worker (killed mid-send): beat sends it again, the same code, at most this many
# times. Longer than a live task can take (its time limit plus the provider's timeout),
# so that a slow worker is never raced.
VERIFICATION_CLAIM_STALE_SECONDS = env_int("VERIFICATION_CLAIM_STALE_SECONDS", 180, minimum=1)
VERIFICATION_CLAIM_MAX_RESENDS = env_int("VERIFICATION_CLAIM_MAX_RESENDS", 2, minimum=0)
if VERIFICATION_CLAIM_STALE_SECONDS <= SINGLE_MESSAGE_TIME_LIMIT_SECONDS + PROVIDER_TIMEOUT_SECONDS:
    raise ImproperlyConfigured(
        "VERIFICATION_CLAIM_STALE_SECONDS must be longer than SINGLE_MESSAGE_TIME_LIMIT_SECONDS plus "
        "PROVIDER_TIMEOUT_SECONDS: a code whose worker is merely slow would be sent twice"
    )

# --- Staff sign-in -------------------------------------------------------------------
LOGIN_URL = "console:login"
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env_float("AXES_COOLOFF_HOURS", 1.0, minimum=0.01)
# Failures lock out a user name from one client address, never the user name everywhere:
# someone elsewhere who knows an approver's user name must not lock the approver out.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The proxies we run in front of the web servers, each appending to X-Forwarded-For: the
# client's address is read from there (embassy.client_address), not REMOTE_ADDR (the
# proxy's). Only with TRUST_FORWARDED_HEADERS.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 1, minimum=1)
if env.str("TRUSTED_PROXY_COUNT", default=None) is not None and not TRUST_FORWARDED_HEADERS:
    raise ImproperlyConfigured(
        "TRUSTED_PROXY_COUNT is set but TRUST_FORWARDED_HEADERS is not true: X-Forwarded-For is believed "
        "only behind a proxy you run"
    )
AXES_CLIENT_IP_CALLABLE = "embassy.client_address.client_address"
AXES_RESET_ON_SUCCESS = True
OTP_TOTP_ISSUER = "Embassy alerts"
# Approvers and administrators set up their authenticator only with a one-time set-up
# code an administrator issued them (staff page, or ``manage.py issue_setup_code``), so
# a stolen password alone cannot enrol an attacker's phone.
OTP_ENROLMENT_NEEDS_SETUP_CODE = env_bool("OTP_ENROLMENT_NEEDS_SETUP_CODE", True)
OTP_SETUP_CODE_HOURS = env_int("OTP_SETUP_CODE_HOURS", 72, minimum=1)

# --- Security headers that hold everywhere ---------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Django's default, said here so that nobody loosens it by accident: a page opened from
# ours (or ours from another site) gets no handle on the other's window.
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Scripts and styles only from our own static files: no inline <script>, <style>, style=""
# or on...="" attribute anywhere (the Django admin's own pages included), nothing from other
# sites, no plugins, no <base>, no framing, forms post only to us (emails are not pages:
# the policy says nothing about them).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}
# Browser features no page uses (embassy.security.PermissionsPolicyMiddleware). The
# registration form asks for a city, not the device's position: a page that starts asking
# for it needs "geolocation": ["self"] here.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
    )
}

# --- Logs: never phone numbers, emails or message bodies -------------------------------
# The least severe level written, by the web processes and by Celery workers and beat
# started without their own -l / --loglevel (embassy.celery).
LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "embassy.logging.RedactContactsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own defaults give these loggers handlers of their own, without the
        # filter (a console one with DEBUG on, runserver's request lines): every line goes
        # through the one filtered handler instead.
        "django": {"handlers": [], "propagate": True},
        "django.server": {"handlers": [], "propagate": True},
        # The SDKs log full request bodies (numbers, texts) at DEBUG: keep them quiet.
        "twilio": {"level": "WARNING"},
        "twilio.http_client": {"level": "WARNING"},
        "python_http_client": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
    },
}

# --- Retention: how long personal data is kept (embassy.retention, daily) --------------
# Days. A crisis lasts weeks: nothing staff may need during one goes sooner than this.
# Verification codes and links, after they expired.
RETENTION_VERIFICATION_DAYS = env_int("RETENTION_VERIFICATION_DAYS", 30, minimum=1)
# SMS from numbers that were nobody's, after they came (or, for staff's, were handled).
RETENTION_INBOUND_UNKNOWN_DAYS = env_int("RETENTION_INBOUND_UNKNOWN_DAYS", 90, minimum=1)
# Registrations never confirmed, after their last sign of life (never while in an area
# at the highest level: an urgent alert may include them).
RETENTION_UNVERIFIED_REGISTRATION_DAYS = env_int("RETENTION_UNVERIFIED_REGISTRATION_DAYS", 90, minimum=1)
# The development outbox's messages.
RETENTION_OUTBOX_DAYS = env_int("RETENTION_OUTBOX_DAYS", 30, minimum=1)
# Staff sign-in records (django-axes' attempts and log), after the attempt. Never while
# they may still lock someone out.
RETENTION_SIGN_IN_DAYS = env_int("RETENTION_SIGN_IN_DAYS", 90, minimum=1)
if RETENTION_SIGN_IN_DAYS * 24 <= AXES_COOLOFF_TIME:
    raise ImproperlyConfigured(
        "RETENTION_SIGN_IN_DAYS must be longer than AXES_COOLOFF_HOURS: deleting a lock-out's "
        "record would lift it early"
    )

# --- The watchdog: tells on-call when background work stops (embassy.watchdog) ---------
# ``manage.py watchdog`` checks what /healthz and the console's banner know every
# interval; a problem that lasts NOTIFY_AFTER (a worker restart must page nobody) is
# sent once to every route, again every REPEAT while it lasts, and its end once.
WATCHDOG_INTERVAL_SECONDS = env_float("WATCHDOG_INTERVAL_SECONDS", 60.0, minimum=5.0)
WATCHDOG_NOTIFY_AFTER_SECONDS = env_int("WATCHDOG_NOTIFY_AFTER_SECONDS", 180, minimum=0)
WATCHDOG_REPEAT_SECONDS = env_int("WATCHDOG_REPEAT_SECONDS", 3600, minimum=60)
# Routes, any of them (production refuses to start with none): a generic webhook (JSON POST;
# may carry a token, so _FILE too), and emails and phones sent through the configured
# channels directly, never through Celery (which may be what is down).
WATCHDOG_WEBHOOK_URL = env_http_url("WATCHDOG_WEBHOOK_URL")
WATCHDOG_WEBHOOK_TIMEOUT_SECONDS = env_float("WATCHDOG_WEBHOOK_TIMEOUT_SECONDS", 10.0, minimum=0.5)
WATCHDOG_EMAILS = env_email_list("WATCHDOG_EMAILS")
WATCHDOG_PHONES = env_phone_list("WATCHDOG_PHONES")
# What it already told, kept on the watchdog's own disk: the database and Redis may be
# what is down, and a restart must not page again for the same problem.
WATCHDOG_STATE_FILE = Path(env.str("WATCHDOG_STATE_FILE", default=str(BASE_DIR / "watchdog-state.json")).strip() or ".")
if WATCHDOG_STATE_FILE.name in ("", ".", ".."):
    raise ImproperlyConfigured("WATCHDOG_STATE_FILE must name a file, such as /var/lib/embassy/watchdog-state.json")

# --- Advisory levels ------------------------------------------------------------------
# The default four-step scale; a deployment may reword it (JSON object, level -> words).
ADVISORY_LEVELS = {
    int(k): v
    for k, v in env_json(
        "ADVISORY_LEVELS",
        {
            # gettext_noop: in the catalogue, translated where shown (alerts.levels.level_name).
            "1": gettext_noop("Exercise normal precautions"),
            "2": gettext_noop("Exercise increased caution"),
            "3": gettext_noop("Reconsider travel"),
            "4": gettext_noop("Do not travel"),
        },
    ).items()
}

# Webhook paths (mounted by alerts.webhooks); the SMS channel builds status-callback URLs
# from PUBLIC_BASE_URL + TWILIO_STATUS_CALLBACK_PATH.
TWILIO_STATUS_CALLBACK_PATH = "/hooks/twilio/status/"
TWILIO_INBOUND_PATH = "/hooks/twilio/inbound/"
SENDGRID_EVENTS_PATH = "/hooks/sendgrid/events/"
# Country preselected on the registration form (ISO 3166-1 alpha-2; "" for none).
REGISTRATION_DEFAULT_COUNTRY = env.str("REGISTRATION_DEFAULT_COUNTRY", default="").upper()

# Check-in links in alert emails stop working after this long (unsubscribe links never do).
CHECK_IN_LINK_MAX_AGE_SECONDS = env_int("CHECK_IN_LINK_MAX_AGE_SECONDS", 30 * 24 * 3600, minimum=3600)

# --- Alert pipeline (fan-out, retries, sweep) -------------------------------------------
# Citizens read per fan-out chunk (keyset order), and deliveries per send task.
ALERT_FANOUT_CHUNK = env_int("ALERT_FANOUT_CHUNK", 5000, minimum=1)
SMS_TASK_CHUNK = env_int("SMS_TASK_CHUNK", 500, minimum=1)
# SMS claimed per round inside a send task: an abort stops the rest within one round.
SMS_CLAIM_SIZE = env_int("SMS_CLAIM_SIZE", 50, minimum=1)
# Emails per provider request (SendGrid takes at most 1,000 personalizations).
EMAIL_BATCH_SIZE = env_int("EMAIL_BATCH_SIZE", 1000, minimum=1)
DELIVERY_MAX_ATTEMPTS = env_int("DELIVERY_MAX_ATTEMPTS", 5, minimum=1)
DELIVERY_RETRY_BASE_SECONDS = env_float("DELIVERY_RETRY_BASE_SECONDS", 5.0, minimum=0.0)
DELIVERY_RETRY_MAX_SECONDS = env_float("DELIVERY_RETRY_MAX_SECONDS", 300.0, minimum=0.0)
# A delivery SENDING this long was left by a dead worker: ended "outcome unknown".
DELIVERY_SENDING_STALE_SECONDS = env_int("DELIVERY_SENDING_STALE_SECONDS", 300, minimum=1)
# A queued delivery whose send task is this old is queued again (its task was lost).
DELIVERY_REQUEUE_AFTER_SECONDS = env_int("DELIVERY_REQUEUE_AFTER_SECONDS", 600, minimum=1)
# A provider that refuses our own account (credentials, sender) pauses its channel this
# long before the sweep tries it again; send tasks look at the pause at most this often.
CHANNEL_PAUSE_SECONDS = env_int("CHANNEL_PAUSE_SECONDS", 60, minimum=1)
CHANNEL_PAUSE_CHECK_SECONDS = env_float("CHANNEL_PAUSE_CHECK_SECONDS", 1.0, minimum=0.0)
# A provider answering this many requests in a row with server errors (5xx), or letting
# them time out or not connect, nothing accepted in between, is down: its channel pauses
# and is tried again this often.
CHANNEL_OUTAGE_AFTER = env_int("CHANNEL_OUTAGE_AFTER", 10, minimum=1)
CHANNEL_OUTAGE_PAUSE_SECONDS = env_int("CHANNEL_OUTAGE_PAUSE_SECONDS", 30, minimum=1)
# A fan-out that has not renewed its lease for this long is taken over by the sweep.
ALERT_FANOUT_STALL_SECONDS = env_int("ALERT_FANOUT_STALL_SECONDS", 60, minimum=1)
# Beat: due scheduled alerts are started every few seconds (never long Celery countdowns,
# which the broker's visibility timeout would run twice); the sweep runs often too.
ALERT_START_DUE_EVERY_SECONDS = env_float("ALERT_START_DUE_EVERY_SECONDS", 5.0, minimum=1.0)
DELIVERY_SWEEP_EVERY_SECONDS = env_float("DELIVERY_SWEEP_EVERY_SECONDS", 15.0, minimum=1.0)
# Inbound SMS the webhook missed (our web servers or PostgreSQL down) are fetched from
# Twilio's message list this often, for each of our numbers: those sent since the last
# look, minus an overlap (Twilio may list a message late; clocks differ), never further
# back than the maximum age (its sids are kept a week: prune_webhook_events), at most so
# many per number and run (the rest, older, at the next runs).
INBOUND_FETCH_EVERY_SECONDS = env_float("INBOUND_FETCH_EVERY_SECONDS", 60.0, minimum=5.0)
INBOUND_FETCH_OVERLAP_SECONDS = env_int("INBOUND_FETCH_OVERLAP_SECONDS", 300, minimum=0)
INBOUND_FETCH_MAX_AGE_HOURS = env_int("INBOUND_FETCH_MAX_AGE_HOURS", 72, minimum=1)
if INBOUND_FETCH_MAX_AGE_HOURS > 6 * 24:
    raise ImproperlyConfigured(
        f"INBOUND_FETCH_MAX_AGE_HOURS must be at most 144 (the sids of erased messages are kept 7 days), "
        f"not {INBOUND_FETCH_MAX_AGE_HOURS}"
    )
INBOUND_FETCH_MAX_PER_RUN = env_int("INBOUND_FETCH_MAX_PER_RUN", 5000, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "alerts-start-due": {
        "task": "alerts.tasks.start_due_alerts",
        "schedule": ALERT_START_DUE_EVERY_SECONDS,
        "options": {"expires": ALERT_START_DUE_EVERY_SECONDS},
    },
    "alerts-sweep-deliveries": {
        "task": "alerts.tasks.sweep_deliveries",
        "schedule": DELIVERY_SWEEP_EVERY_SECONDS,
        "options": {"expires": DELIVERY_SWEEP_EVERY_SECONDS},
    },
    "registrations-requeue-verification-messages": {
        "task": "registrations.tasks.requeue_verification_messages",
        "schedule": VERIFICATION_REQUEUE_EVERY_SECONDS,
        "options": {"expires": VERIFICATION_REQUEUE_EVERY_SECONDS},
    },
    # Inbound SMS the webhook missed while we were down (alerts.services.missed_inbound).
    "alerts-fetch-missed-inbound-sms": {
        "task": "alerts.tasks.fetch_missed_inbound_sms",
        "schedule": INBOUND_FETCH_EVERY_SECONDS,
        "options": {"expires": INBOUND_FETCH_EVERY_SECONDS},
    },
    # Replay protection keeps a week of event keys (SendGrid retries for 72 hours).
    "alerts-prune-webhook-events": {
        "task": "alerts.tasks.prune_webhook_events",
        "schedule": 3600.0,
        "options": {"expires": 3600.0},
    },
    # Expired sessions and personal data kept past its time (embassy.retention).
    "alerts-apply-retention": {
        "task": "alerts.tasks.apply_retention",
        "schedule": 24 * 3600.0,
        "options": {"expires": 24 * 3600.0},
    },
}


def send_queue_heartbeats(send_queues: dict[str, str], every: float) -> dict[str, dict[str, object]]:
    """Beat entries of a task that does nothing on each send queue: /healthz's
    send_queue_age_s shows that an idle queue's workers are alive (a busy queue shows it
    with its own tasks)."""
    return {
        f"alerts-heartbeat-{queue}": {
            "task": "alerts.tasks.queue_heartbeat",
            "schedule": every,
            "options": {"queue": queue, "expires": every},
        }
        for queue in send_queues.values()
    }


CELERY_BEAT_SCHEDULE.update(send_queue_heartbeats(ALERT_SEND_QUEUES, DELIVERY_SWEEP_EVERY_SECONDS))
