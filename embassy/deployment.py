"""What a deployment (``embassy.settings.production``) refuses to start without.

The embedded defaults are made for a first run on a laptop: messages kept in the
development outbox table, links to ``http://127.0.0.1:8000``, tasks run inside the web
request, SQLite. Each is harmless there and a silent disaster on a server: an alert
that "sends" into a table, check-in links nobody can open, a fan-out to a million
people inside the approver's request. So production settings check the values they
ended up with, and a missing or development value stops the process at start with
every problem named at once (``ImproperlyConfigured``), instead of a quiet 200 from
``/healthz``.

A staging deployment that really must send nothing may keep the outbox with
``ALLOW_OUTBOX_BACKENDS=true``; nothing else has an escape.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured
from django.http.request import validate_host

#: Host names that only ever mean this machine (or the test client).
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "testserver"}
_REDIS_SCHEMES = {"redis", "rediss", "unix"}


def _is_local_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _public_base_url_problems(url: str, allowed_hosts: list[str]) -> list[str]:
    why = (
        "it is the address of every personal link sent to citizens (check-in, unsubscribe, "
        "self-service, email confirmation) and of every Twilio status callback"
    )
    if not url or url == "http://127.0.0.1:8000":
        return [f"PUBLIC_BASE_URL is not set (or left at http://127.0.0.1:8000): {why}, which would all point here"]
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return [f"PUBLIC_BASE_URL {url!r} is not a URL: {why}"]
    problems = []
    if parts.scheme != "https":
        problems.append(
            f"PUBLIC_BASE_URL must start with https:// (the site redirects plain HTTP and Twilio signs "
            f"the URL it calls), not {url!r}: {why}"
        )
    if not host:
        problems.append(f"PUBLIC_BASE_URL {url!r} names no host: {why}")
    elif _is_local_host(host):
        problems.append(f"PUBLIC_BASE_URL {url!r} names this machine, which no citizen or provider can reach: {why}")
    elif not validate_host(host, allowed_hosts):
        problems.append(
            f"PUBLIC_BASE_URL's host {host!r} is not in ALLOWED_HOSTS: every link and callback to it would be "
            "refused with 400"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        problems.append(f"PUBLIC_BASE_URL must be a plain https://host address, without user, query or fragment: {why}")
    return problems


def _redis_problems(url: str | None, always_eager: bool) -> list[str]:
    why = (
        "it is the Celery broker (without it every task, an alert's whole fan-out included, runs inside the "
        "web request that queued it, and beat's sweep never runs), the shared cache of the registration rate "
        "limits and the shared SMS rate limiter"
    )
    if not url:
        return [f"REDIS_URL is not set: {why}"]
    problems = []
    scheme = urlsplit(url).scheme
    if scheme not in _REDIS_SCHEMES:
        problems.append(
            f"REDIS_URL must be a redis://, rediss:// or unix:// URL, not one starting {scheme!r}://: {why}"
        )
    if always_eager:
        problems.append(
            "CELERY_TASK_ALWAYS_EAGER is on: every task would run inside the web request that queued it; "
            "unset it in production"
        )
    return problems


def _sms_problems(values: Mapping[str, Any], allow_outbox: bool) -> list[str]:
    backend = values["SMS_BACKEND"]
    if backend == "outbox":
        if allow_outbox:
            return []
        return [
            "SMS_BACKEND is 'outbox' (its default when unset): every SMS, alerts and verification codes "
            "included, would be kept in the development outbox table and never sent. Set SMS_BACKEND=twilio "
            "(a staging deployment that must send nothing: ALLOW_OUTBOX_BACKENDS=true)"
        ]
    problems = []
    missing = [name for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN") if not values.get(name)]
    if missing:
        problems.append(
            f"SMS_BACKEND=twilio needs {' and '.join(missing)} (or {missing[0]}_FILE): without them no SMS is "
            "sent and every Twilio webhook (inbound SMS, STOP included, and status callbacks) is refused"
        )
    if not values.get("TWILIO_MESSAGING_SERVICE_SID") and not values.get("TWILIO_FROM_NUMBER"):
        problems.append(
            "SMS_BACKEND=twilio needs TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER: the sender of every SMS"
        )
    return problems


def _email_problems(values: Mapping[str, Any], allow_outbox: bool) -> list[str]:
    backend = values["EMAIL_BACKEND_NAME"]
    if backend == "outbox":
        if allow_outbox:
            return []
        return [
            "EMAIL_BACKEND_NAME is 'outbox' (its default when unset): every email, alerts and confirmation "
            "links included, would be kept in the development outbox table and never sent. Set "
            "EMAIL_BACKEND_NAME=sendgrid (a staging deployment that must send nothing: ALLOW_OUTBOX_BACKENDS=true)"
        ]
    problems = []
    if not values.get("SENDGRID_API_KEY"):
        problems.append(
            "EMAIL_BACKEND_NAME=sendgrid needs SENDGRID_API_KEY (or SENDGRID_API_KEY_FILE): no email is sent"
        )
    if not values.get("SENDGRID_WEBHOOK_PUBLIC_KEY"):
        problems.append(
            "EMAIL_BACKEND_NAME=sendgrid needs SENDGRID_WEBHOOK_PUBLIC_KEY: without it every SendGrid event "
            "(delivered, bounced, unsubscribed, spam report) is refused"
        )
    return problems


def check_secret_key_fallbacks(secret_key: str, fallbacks: list[str]) -> None:
    """Raise ImproperlyConfigured unless every key in ``fallbacks`` (SECRET_KEY_FALLBACKS)
    looks like an earlier SECRET_KEY: 40 characters or more (a key cut in two by a comma
    is not), and not the current key itself (then the rotation did not happen)."""
    for number, fallback in enumerate(fallbacks, start=1):
        if fallback == secret_key:
            what = "SECRET_KEY itself"
        elif len(fallback) < 40:
            what = f"only {len(fallback)} characters long"
        else:
            continue
        raise ImproperlyConfigured(
            f"SECRET_KEY_FALLBACKS (or SECRET_KEY_FALLBACKS_FILE): key {number} is {what}: list the earlier "
            "SECRET_KEYs (40+ characters each) whose links must keep working, separated by commas or new lines"
        )


#: The embedded default of EMAIL_FROM_ADDRESS and CAP_SENDER (embassy/settings/base.py).
EXAMPLE_SENDER = "alerts@embassy.example"


def _sender_problems(values: Mapping[str, Any]) -> list[str]:
    problems = []
    if values.get("CAP_SENDER") == EXAMPLE_SENDER:
        problems.append(
            f"CAP_SENDER is not set ({EXAMPLE_SENDER}, the example default): it names the embassy in every "
            "CAP document and starts every alert's identifier, and cannot change once documents are out "
            "(a correction names the alert it corrects by both): a domain or address of the embassy's"
        )
    if values.get("EMAIL_BACKEND_NAME") == "sendgrid" and values.get("EMAIL_FROM_ADDRESS") == EXAMPLE_SENDER:
        problems.append(
            f"EMAIL_FROM_ADDRESS is not set ({EXAMPLE_SENDER}, the example default): SendGrid refuses a "
            "sender not verified for the account, so every email would wait in a paused channel. Set the "
            "embassy's verified sender address"
        )
    return problems


def _watchdog_problems(values: Mapping[str, Any]) -> list[str]:
    if values.get("WATCHDOG_WEBHOOK_URL") or values.get("WATCHDOG_EMAILS") or values.get("WATCHDOG_PHONES"):
        return []
    return [
        "No watchdog notification route: set WATCHDOG_WEBHOOK_URL, WATCHDOG_EMAILS or WATCHDOG_PHONES, and run "
        "manage.py watchdog: without one nobody is told when Redis, PostgreSQL, beat or the workers stop, and "
        "alerts and verification codes wait unseen"
    ]


def deployment_problems(values: Mapping[str, Any], *, allow_outbox: bool = False) -> list[str]:
    """Every reason the settings in ``values`` (names to values, as a settings module
    holds them) are not fit for a deployment; empty when they are."""
    database = values["DATABASES"]["default"]
    problems = []
    if "sqlite" in database.get("ENGINE", ""):
        problems.append(
            "DATABASE_URL is not set or names SQLite: a deployment keeps citizens, alerts and deliveries in "
            "PostgreSQL (DATABASE_URL=postgres://user@host:5432/embassy)"
        )
    problems += _redis_problems(values.get("REDIS_URL"), bool(values.get("CELERY_TASK_ALWAYS_EAGER")))
    problems += _public_base_url_problems(values.get("PUBLIC_BASE_URL") or "", list(values.get("ALLOWED_HOSTS", [])))
    problems += _sms_problems(values, allow_outbox)
    problems += _email_problems(values, allow_outbox)
    problems += _sender_problems(values)
    problems += _watchdog_problems(values)
    return problems


def require_deployment_settings(values: Mapping[str, Any], *, allow_outbox: bool = False) -> None:
    """Raise ImproperlyConfigured naming every problem ``deployment_problems`` finds."""
    problems = deployment_problems(values, allow_outbox=allow_outbox)
    if problems:
        listed = "\n".join(f"- {problem}" for problem in problems)
        raise ImproperlyConfigured(f"Production settings refuse to start:\n{listed}\n(README, 'Configuration')")
