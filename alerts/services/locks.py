"""One run at a time across every worker: a PostgreSQL session advisory lock."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connection


@contextlib.contextmanager
def one_at_a_time(key: int) -> Iterator[bool]:
    """Take the advisory lock ``key`` without waiting: yields True if this run may go on.

    A session lock: released at the end, or when the process's connection dies. Other
    databases (the embedded SQLite, one process) need none: always True there.
    """
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        mine = bool(cursor.fetchone()[0])
    try:
        yield mine
    finally:
        if mine:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
