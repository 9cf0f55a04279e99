"""``manage.py migrate`` gives up on a lock held by a long query instead of stopping the
site behind it, rolls back whole, and tries again (alerts/management/commands/migrate.py).

Run for real: a scratch PostgreSQL database of its own, migrated by ``manage.py`` in a
subprocess, with a second connection holding a long read on ``alerts_delivery`` while
migration ``alerts.0010`` (it drops and builds the table's indexes) wants its lock.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
BEFORE = "0009_channel_pause"
LOCKING = "0010_delivery_indexes_for_writes"


def _server_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"


@pytest.fixture(scope="module")
def scratch() -> Iterator[str]:
    """A database of this module's own, migrated up to just before alerts.0010."""
    name = f"migrate_lock_{uuid.uuid4().hex[:10]}"
    server = _server_url()
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{server}/{name}"
    try:
        migrate(url, "alerts", BEFORE, check=True)
        yield url
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(url: str, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))},
        "DJANGO_SETTINGS_MODULE": "embassy.settings.local",
        "DATABASE_URL": url,
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def applied(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {name for (name,) in conn.execute("SELECT name FROM django_migrations WHERE app = 'alerts'")}


def test_a_migration_behind_a_long_query_gives_up_is_rolled_back_and_goes_through_later(scratch):
    with psycopg.connect(scratch) as reader:
        # A long read (an export, say): its transaction holds ACCESS SHARE on the table.
        reader.execute("SELECT count(*) FROM alerts_delivery").fetchone()
        refused = migrate(scratch, "--lock-timeout", "0.5", "--lock-attempts", "2", "--lock-pause", "0.1")
        # The reader was never made to wait, and the table still answers it.
        reader.execute("SELECT count(*) FROM alerts_delivery").fetchone()
        reader.rollback()

    assert refused.returncode != 0
    assert "could not take its lock within 0.5 s (attempt 1 of 2)" in refused.stderr
    assert "attempt 2 of 2" in refused.stderr and "Run migrate again" in refused.stderr
    assert LOCKING not in applied(scratch)  # rolled back whole
    with psycopg.connect(scratch) as conn:
        names = {n for (n,) in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'alerts_delivery'")}
    assert "alerts_deli_state_5d8da8_idx" in names  # 0010 dropped it, and that was undone

    migrate(scratch, "--lock-timeout", "0.5", check=True)  # nothing holds the table now
    assert LOCKING in applied(scratch)


def test_bad_options_are_refused_plainly(scratch):
    done = migrate(scratch, "--lock-attempts", "0")
    assert done.returncode != 0 and "--lock-attempts must be at least 1" in done.stderr
    done = migrate(scratch, "--lock-timeout", "-1")
    assert done.returncode != 0 and "--lock-timeout must be 0 (no limit) or more" in done.stderr


def test_the_timeout_is_a_setting_read_from_the_environment():
    code = (
        "import django; django.setup(); from django.conf import settings;"
        " print(settings.MIGRATION_LOCK_TIMEOUT_SECONDS)"
    )
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "embassy.settings.local"}
    run = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "MIGRATION_LOCK_TIMEOUT_SECONDS": "2.5"},
        capture_output=True,
        text=True,
    )
    assert run.stdout.strip() == "2.5"
    run = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "MIGRATION_LOCK_TIMEOUT_SECONDS": "-1"},
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0 and "MIGRATION_LOCK_TIMEOUT_SECONDS" in run.stderr
