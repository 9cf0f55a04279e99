"""``manage.py migrate`` that gives up on a lock instead of stopping the site behind it.

A migration that changes ``alerts_delivery`` (millions of rows after a few large alerts)
needs a lock on it. Queued behind a long query (a CSV export, the progress page under
load), PostgreSQL's lock queue makes every later query on the table wait behind the
migration too: sending, callbacks and the console stop until the long query ends, for
as long as that is (docs/operations.md, 2).

So on PostgreSQL each run sets ``lock_timeout`` (``MIGRATION_LOCK_TIMEOUT_SECONDS``, 5 s;
0 leaves PostgreSQL's own, none): a migration that cannot take its lock within it rolls
back whole (each migration is one transaction), and the command tries again, up to
``--lock-attempts`` times, ``--lock-pause`` seconds apart, then stops with an error that
says so. Migrations applied before it stay applied; running the command again goes on
from there. Everything else is Django's ``migrate``.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.core.management.commands.migrate import Command as DjangoMigrate
from django.db import OperationalError, connections

LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL: lock_timeout expired


def _lock_timed_out(exc: BaseException) -> bool:
    while exc is not None:
        if getattr(exc, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            return True
        exc = exc.__cause__  # type: ignore[assignment]
    return False


class Command(DjangoMigrate):
    help = DjangoMigrate.help + (
        " On PostgreSQL a migration waits at most MIGRATION_LOCK_TIMEOUT_SECONDS for a lock, then is"
        " rolled back and tried again (--lock-attempts), instead of holding up every query behind it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--lock-timeout",
            type=float,
            default=None,
            help="seconds a migration may wait for a lock (default MIGRATION_LOCK_TIMEOUT_SECONDS; 0: no limit)",
        )
        parser.add_argument(
            "--lock-attempts", type=int, default=3, help="tries when a lock is not had in time (default 3)"
        )
        parser.add_argument("--lock-pause", type=float, default=10.0, help="seconds between tries (default 10)")

    def handle(self, *args: Any, **options: Any) -> None:
        seconds = options["lock_timeout"]
        if seconds is None:
            seconds = float(settings.MIGRATION_LOCK_TIMEOUT_SECONDS)
        attempts = options["lock_attempts"]
        if seconds < 0:
            raise CommandError("--lock-timeout must be 0 (no limit) or more")
        if attempts < 1:
            raise CommandError("--lock-attempts must be at least 1")
        connection = connections[options["database"]]
        if connection.vendor != "postgresql" or seconds == 0:
            super().handle(*args, **options)
            return
        for attempt in range(1, attempts + 1):
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('lock_timeout', %s, false)", [f"{round(seconds * 1000)}ms"])
            try:
                super().handle(*args, **options)
                return
            except OperationalError as exc:
                if not _lock_timed_out(exc):
                    raise
                message = (
                    f"a migration could not take its lock within {seconds:g} s (attempt {attempt} of {attempts}):"
                    " a query on its table held it. That migration was rolled back; those before it stay applied."
                )
                if attempt == attempts:
                    raise CommandError(
                        message + " Run migrate again when the long query has ended (docs/operations.md, 2)."
                    ) from exc
                self.stderr.write(message + f" Trying again in {options['lock_pause']:g} s.")
                time.sleep(options["lock_pause"])
            finally:
                with connection.cursor() as cursor:
                    cursor.execute("RESET lock_timeout")
