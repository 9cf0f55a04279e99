"""``ProviderStub``: one aiohttp server on loopback speaking Twilio's and SendGrid's APIs.

Used three ways: in a background thread by the test session (``start()`` / ``stop()``),
in the foreground by ``manage.py provider_stub`` (``serve_forever()``), and from other
processes through its ``/_stub/`` control API (see ``alerts.providerstub.control``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import signal
import socket
import threading
from collections.abc import Callable
from typing import Any

from aiohttp import web

from alerts.providerstub.callbacks import CallbackSender, EventSigningKey
from alerts.providerstub.control import ControlAPI
from alerts.providerstub.sendgrid_api import SendGridAPI
from alerts.providerstub.state import FailureRule, StubConfig, StubState
from alerts.providerstub.twilio_api import TwilioAPI

DEFAULT_ACCOUNT_SID = "AC" + "5" * 32
DEFAULT_AUTH_TOKEN = "stub-auth-token-" + "0" * 16
DEFAULT_SENDGRID_KEY = "SG.stub-key.not-a-secret"


class ProviderStub:
    """The loopback stand-in for Twilio and SendGrid.

    Credentials are checked as the providers check them: HTTP basic auth with the
    account SID and auth token for Twilio, ``Authorization: Bearer <key>`` for SendGrid.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        twilio_account_sid: str = DEFAULT_ACCOUNT_SID,
        twilio_auth_token: str = DEFAULT_AUTH_TOKEN,
        sendgrid_api_key: str = DEFAULT_SENDGRID_KEY,
        config: StubConfig | None = None,
        backlog: int = 2048,
    ) -> None:
        self.host = host
        self.port = port
        self.backlog = backlog
        self.twilio_account_sid = twilio_account_sid
        self.twilio_auth_token = twilio_auth_token
        self.sendgrid_api_key = sendgrid_api_key
        self.state = StubState(config)
        self.key = EventSigningKey()
        self.callback_sender = CallbackSender(self.state, self.key)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._on_ready: Callable[[], None] | None = None

    # --- the app ----------------------------------------------------------------------------
    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.add_routes(self._twilio_api().routes())
        app.add_routes(SendGridAPI(self.state, self.callback_sender, self.sendgrid_api_key).routes())
        app.add_routes(ControlAPI(self).routes())
        return app

    def _twilio_api(self) -> TwilioAPI:
        # Made from the stub's state and callbacks as they are when asked: a caller may
        # replace them before serving (bench.stub's slimmer state).
        return TwilioAPI(self.state, self.callback_sender, self.twilio_account_sid, self.twilio_auth_token)

    def _bind(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        return sock

    async def _serve(self, stop: asyncio.Event, foreground: bool) -> None:
        if foreground:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
        runner = web.AppRunner(self.make_app(), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.SockSite(runner, self._bind(), backlog=self.backlog)
            await site.start()
            self._started.set()
            if self._on_ready is not None:
                self._on_ready()
            await stop.wait()
        finally:
            await self.callback_sender.close()
            await runner.cleanup()

    def _run(self, foreground: bool = False) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._stop = asyncio.Event()
        try:
            loop.run_until_complete(self._serve(self._stop, foreground))
        except BaseException as exc:  # reported to start(); a thread must not die silently
            self._error = exc
            self._started.set()
        finally:
            loop.close()

    # --- running --------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> ProviderStub:
        """Serve in a background thread (own event loop); return once it listens."""
        self._thread = threading.Thread(target=self._run, name="provider-stub", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise RuntimeError("provider stub did not start in time")
        if self._error is not None:
            raise RuntimeError(f"provider stub failed to start: {self._error}") from self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)

    def serve_forever(self, on_ready: Callable[[], None] | None = None) -> None:
        """Serve in this (main) thread until SIGINT or SIGTERM; ``on_ready`` runs once listening."""
        self._on_ready = on_ready
        self._run(foreground=True)
        if self._error is not None:
            raise self._error

    def __enter__(self) -> ProviderStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- where it is ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL of both APIs (``TWILIO_API_BASE_URL`` and ``SENDGRID_API_BASE_URL``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def public_key(self) -> str:
        """Base64 DER public key that verifies the signed SendGrid events."""
        return self.key.public_key

    def settings(self) -> dict[str, Any]:
        """Django settings that point the Twilio and SendGrid channels at this stub."""
        return {
            "SMS_BACKEND": "twilio",
            "EMAIL_BACKEND_NAME": "sendgrid",
            "TWILIO_API_BASE_URL": self.url,
            "TWILIO_ACCOUNT_SID": self.twilio_account_sid,
            "TWILIO_AUTH_TOKEN": self.twilio_auth_token,
            "SENDGRID_API_BASE_URL": self.url,
            "SENDGRID_API_KEY": self.sendgrid_api_key,
            "SENDGRID_WEBHOOK_PUBLIC_KEY": self.public_key,
        }

    def environ(self) -> dict[str, str]:
        """The same as environment variables, for processes a test starts (workers)."""
        return {name: str(value) for name, value in self.settings().items()}

    # --- Python control API (the same as /_stub/) ---------------------------------------------
    @property
    def config(self) -> StubConfig:
        return self.state.config

    def configure(self, **changes: Any) -> StubConfig:
        """Change settings of ``StubConfig`` (latency_ms, failure_rate, callback_base, ...)."""
        return self.state.configure(**changes)

    def fail_next(
        self,
        count: int | None = 1,
        *,
        api: str = "sms",
        twilio_code: int | None = None,
        http_status: int | None = None,
        to: list[str] | str | None = None,
        retry_after: int | None = None,
        latency_ms: float | None = None,
        lose_answer: bool = False,
    ) -> FailureRule:
        """Make the next ``count`` matching requests fail (``None``: every one until reset).

        ``lose_answer=True``: they are taken as accepted ones (stored, recorded, called
        back), then the connection is dropped without an answer.
        """
        rule = FailureRule(
            api=api,
            remaining=count,
            twilio_code=twilio_code,
            http_status=http_status,
            to=[to] if isinstance(to, str) else to,
            retry_after=retry_after,
            latency_ms=latency_ms,
            lose_answer=lose_answer,
        )
        self.state.add_rule(rule)
        return rule

    def receive_sms(
        self,
        from_: str,
        to: str,
        body: str,
        *,
        sent_at: datetime.datetime | float | None = None,
        sid: str | None = None,
        status: str = "received",
        messaging_service_sid: str | None = None,
    ) -> str:
        """Hold an inbound SMS as if Twilio had received it at ``sent_at`` (now unless
        given) while our webhook was down: listed and fetched through the Messages API,
        no webhook called. Returns its sid. Raises ValueError for a number that is not
        E.164, a malformed sid or a status other than received/receiving."""
        if isinstance(sent_at, datetime.datetime):
            sent_at = sent_at.timestamp()
        resource = self._twilio_api().receive(
            from_, to, body, sent_at=sent_at, sid=sid, status=status, messaging_service_sid=messaging_service_sid
        )
        return str(resource["sid"])

    def reset(self) -> None:
        """Forget what was received and sent; back to the configuration it started with."""
        self.state.reset()

    def received(self, api: str | None = None) -> list[dict[str, Any]]:
        """Provider requests received, oldest first (``api``: "sms" or "email")."""
        return self.state.received(api)

    def callbacks(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Callbacks sent, with ``kind`` "twilio-status" or "sendgrid-events"."""
        return [c for c in list(self.state.callbacks) if kind is None or c["kind"] == kind]

    def stats(self) -> dict[str, Any]:
        return self.state.stats()

    def wait_for_callbacks(self, count: int, timeout: float = 5.0, kind: str | None = None) -> list[dict[str, Any]]:
        """Wait until ``count`` callbacks (of ``kind``) were sent; return them."""
        self.state.wait_for(lambda state: len(self.callbacks(kind)) >= count, timeout)
        return self.callbacks(kind)
