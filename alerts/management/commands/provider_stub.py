"""``manage.py provider_stub``: run the loopback Twilio and SendGrid stand-in in the foreground."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from alerts.providerstub import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, DEFAULT_SENDGRID_KEY, ProviderStub, StubConfig


class Command(BaseCommand):
    help = (
        "Serve the Twilio Messages API and SendGrid Mail Send on loopback, as the SDKs expect them, "
        "with a control API under /_stub/. Credentials default to the TWILIO_*/SENDGRID_* settings."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8025, help="port to listen on (default 8025)")
        parser.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every provider request")
        parser.add_argument(
            "--callback-base",
            default=None,
            help="base URL (e.g. http://127.0.0.1:8000) that status callbacks and events are POSTed to; "
            "without it no callbacks are sent",
        )
        parser.add_argument("--failure-rate", type=float, default=0.0, help="share of requests failing at random")
        parser.add_argument("--failure-status", type=int, default=500, help="HTTP status of random failures")

    def handle(self, *args: Any, **options: Any) -> None:
        if not 0.0 <= options["failure_rate"] <= 1.0:
            raise CommandError("--failure-rate must be between 0 and 1")
        if options["latency_ms"] < 0:
            raise CommandError("--latency-ms must not be negative")
        config = StubConfig(
            latency_ms=options["latency_ms"],
            callback_base=options["callback_base"],
            sendgrid_events_path=settings.SENDGRID_EVENTS_PATH,
            failure_rate=options["failure_rate"],
            failure_http_status=options["failure_status"],
        )
        stub = ProviderStub(
            host=options["host"],
            port=options["port"],
            twilio_account_sid=settings.TWILIO_ACCOUNT_SID or DEFAULT_ACCOUNT_SID,
            twilio_auth_token=settings.TWILIO_AUTH_TOKEN or DEFAULT_AUTH_TOKEN,
            sendgrid_api_key=settings.SENDGRID_API_KEY or DEFAULT_SENDGRID_KEY,
            config=config,
        )

        def announce() -> None:
            self.stdout.write(f"provider stub on {stub.url} (Twilio and SendGrid; control API at {stub.url}/_stub/)")
            self.stdout.write(f"  TWILIO_API_BASE_URL={stub.url} SENDGRID_API_BASE_URL={stub.url}")
            self.stdout.write(f"  TWILIO_ACCOUNT_SID={stub.twilio_account_sid}")
            self.stdout.write(f"  SENDGRID_WEBHOOK_PUBLIC_KEY={stub.public_key}")
            if not settings.TWILIO_AUTH_TOKEN or not settings.SENDGRID_API_KEY:
                self.stdout.write("  (credentials not set in the environment: using the stub's defaults)")
            self.stdout.write(f"  callbacks: {'to ' + config.callback_base if config.callback_base else 'off'}")
            self.stdout.flush()

        try:
            stub.serve_forever(on_ready=announce)
        except OSError as exc:
            raise CommandError(f"cannot serve on {options['host']}:{options['port']}: {exc}") from None
        self.stdout.write("provider stub stopped")
