"""Placeholder values with which ``embassy.settings.production`` starts, for tests that
start it in a subprocess (and the same shape as ``.ci/run``'s ``check --deploy``).

None of them is ever reached: nothing here connects to the database, Redis or a provider.
"""

from __future__ import annotations

PRODUCTION_ENV = {
    "SECRET_KEY": "k" * 50,
    "ALLOWED_HOSTS": "alerts.example",
    "DATABASE_URL": "postgres://embassy@db.alerts.example:5432/embassy",
    "REDIS_URL": "redis://127.0.0.1:9/0",  # nothing listens on port 9
    "PUBLIC_BASE_URL": "https://alerts.example",
    "SMS_BACKEND": "twilio",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "placeholder-twilio-auth-token",
    "TWILIO_MESSAGING_SERVICE_SID": "MG" + "0" * 32,
    "EMAIL_BACKEND_NAME": "sendgrid",
    "SENDGRID_API_KEY": "SG.placeholder",
    "SENDGRID_WEBHOOK_PUBLIC_KEY": "placeholder-public-key",
    "EMAIL_FROM_ADDRESS": "alerts@alerts.example",
    "CAP_SENDER": "alerts.example",
    "WATCHDOG_EMAILS": "duty@alerts.example",
}
