"""``manage.py watchdog``: tell on-call when background work stops (``embassy.watchdog``).

Runs beside Celery, not in it: Redis may be what is down. Checks every
``WATCHDOG_INTERVAL_SECONDS``; ``--once`` checks once and exits (tests, cron). Refuses
to start without a notification route, or with a state file it cannot keep, or while
another watchdog uses the same state file.
"""

from __future__ import annotations

import logging
import os
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from embassy import watchdog

logger = logging.getLogger("embassy.watchdog")


class Command(BaseCommand):
    help = "Tell on-call (webhook, email, SMS) when the database, Redis, beat or the workers stop."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--once", action="store_true", help="check once, notify what is due, and exit")

    def handle(self, *args: object, **options: object) -> None:
        routes = watchdog.routes()
        if not routes:
            raise CommandError(
                "no notification route: set WATCHDOG_WEBHOOK_URL, WATCHDOG_EMAILS or WATCHDOG_PHONES "
                "(README, 'Configuration')"
            )
        path = settings.WATCHDOG_STATE_FILE
        if path.is_dir() or not path.parent.is_dir() or not os.access(path.parent, os.W_OK):
            raise CommandError(
                f"WATCHDOG_STATE_FILE {str(path)!r}: its folder must exist and be writable by this user, and the "
                "name must not be a folder: the watchdog keeps there what it already told"
            )
        try:
            with watchdog.exclusive(path):
                self._run(path, routes, once=bool(options["once"]))
        except watchdog.WatchdogBusy:
            raise CommandError(
                f"another watchdog is running with the state file {str(path)!r}: run one (section 1 of the runbook)"
            ) from None
        except OSError as exc:
            raise CommandError(f"WATCHDOG_STATE_FILE {str(path)!r}: cannot lock it ({exc.strerror})") from None

    def _run(self, path, routes: list[str], *, once: bool) -> None:  # type: ignore[no-untyped-def]
        interval = settings.WATCHDOG_INTERVAL_SECONDS
        if not once:
            logger.info(
                "watchdog: checking every %gs; telling by %s after %ss, again every %ss; state in %s",
                interval,
                ", ".join(self._route_names(routes)),
                settings.WATCHDOG_NOTIFY_AFTER_SECONDS,
                settings.WATCHDOG_REPEAT_SECONDS,
                path,
            )
        try:
            while True:
                started = time.monotonic()
                close_old_connections()  # a database restarted since the last check
                try:
                    notice = watchdog.check(path)
                except Exception as exc:
                    logger.exception("watchdog: the check failed")
                    if once:
                        raise CommandError(f"the check failed ({type(exc).__name__})") from None
                else:
                    if once:
                        self.stdout.write(self._summary(path, notice))
                finally:
                    close_old_connections()
                if once:
                    return
                time.sleep(max(0.0, interval - (time.monotonic() - started)))
        except KeyboardInterrupt:
            return

    @staticmethod
    def _route_names(routes: list[str]) -> list[str]:
        names = {
            "webhook": "webhook",
            "email": f"email ({len(settings.WATCHDOG_EMAILS)})",
            "sms": f"SMS ({len(settings.WATCHDOG_PHONES)})",
        }
        return [names[route] for route in routes]

    @staticmethod
    def _summary(path, notice: watchdog.Notice | None) -> str:  # type: ignore[no-untyped-def]
        state = watchdog.load_state(path)
        going_on = ", ".join(sorted(state)) or "none"
        told = f"; sent: {notice.event}" if notice is not None else ""
        return f"watchdog: problems remembered: {going_on}{told}"
