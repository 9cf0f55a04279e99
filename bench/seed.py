"""The benchmark's data: N verified citizens spread over Afghanistan's provinces, by COPY.

Citizen ``i`` (1..N) is fully determined by ``i``, so the benchmark knows every address
it seeded without reading them back:

- contacts, by ``i % 10``: 0-4 both SMS and email, 5-7 SMS only, 8-9 email only;
- phone ``+9370`` + ``i`` in 7 digits, email ``c<i>@bench.example``, both verified;
- language: en, en, en, fa, ps (ps has no text and falls back to en);
- one current presence in one of ``REGIONS``.
"""

from __future__ import annotations

import datetime
import io
import time
from dataclasses import dataclass

import psycopg

REGIONS = [
    ("AF-KAB", "Kabul"),
    ("AF-BAL", "Mazar-i-Sharif"),
    ("AF-HER", "Herat"),
    ("AF-KAN", "Kandahar"),
    ("AF-NAN", "Jalalabad"),
    ("AF-JOW", "Sheberghan"),
    ("AF-NIM", "Zaranj"),
    ("AF-KDZ", "Kunduz"),
]
LANGUAGES = ("en", "en", "en", "fa", "ps")
COPY_ROWS = 50_000  # rows per COPY buffer


def has_phone(i: int) -> bool:
    return i % 10 < 8


def has_email(i: int) -> bool:
    return i % 10 < 5 or i % 10 >= 8


def phone(i: int) -> str:
    return f"+9370{i:07d}"


def email(i: int) -> str:
    return f"c{i}@bench.example"


def citizen_of(address: str) -> int | None:
    """The citizen ``i`` whose phone or email ``address`` is (None: not one we seeded)."""
    digits = address[5:] if address.startswith("+9370") else address[1:].partition("@")[0]
    return int(digits) if digits.isdigit() and (address.startswith(("+9370", "c"))) else None


def expected(first: int, last: int) -> tuple[set[str], set[str]]:
    """The phones and emails of citizens ``first``..``last`` (inclusive)."""
    phones = {phone(i) for i in range(first, last + 1) if has_phone(i)}
    emails = {email(i) for i in range(first, last + 1) if has_email(i)}
    return phones, emails


@dataclass
class SeedReport:
    citizens: int
    sms_addresses: int
    email_addresses: int
    seconds: float


def _copy(cur: psycopg.Cursor, table: str, columns: str, lines: io.StringIO) -> None:
    with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        copy.write(lines.getvalue())


def seed(dsn: str, n: int) -> SeedReport:
    """COPY ``n`` citizens and their presences into the (migrated, empty) database at ``dsn``."""
    began = time.perf_counter()
    now = datetime.datetime.now(datetime.UTC).isoformat()
    null = "\\N"
    citizen_cols = (
        "id, full_name, phone, phone_verified_at, phone_opted_out_at, email, email_verified_at, "
        "email_opted_out_at, preferred_language, emergency_contact_name, emergency_contact_phone, "
        "emergency_contact_email, consent_at, link_generation, created_at, updated_at"
    )
    presence_cols = (
        "id, citizen_id, country, region, city, latitude, longitude, arrival_date, departure_date, "
        "lives_here, ended_at, created_at"
    )
    with psycopg.connect(dsn, autocommit=False) as conn, conn.cursor() as cur:
        for start in range(1, n + 1, COPY_ROWS):
            citizens = io.StringIO()
            presences = io.StringIO()
            for i in range(start, min(n, start + COPY_ROWS - 1) + 1):
                p = phone(i) if has_phone(i) else ""
                e = email(i) if has_email(i) else ""
                citizens.write(
                    f"{i}\tCitizen {i}\t{p}\t{now if p else null}\t{null}\t{e}\t{now if e else null}\t{null}\t"
                    f"{LANGUAGES[i % len(LANGUAGES)]}\t\t\t\t{now}\t0\t{now}\t{now}\n"
                )
                region, city = REGIONS[i % len(REGIONS)]
                presences.write(f"{i}\t{i}\tAF\t{region}\t{city}\t{null}\t{null}\t{null}\t{null}\tt\t{null}\t{now}\n")
            _copy(cur, "registrations_citizen", citizen_cols, citizens)
            _copy(cur, "registrations_presence", presence_cols, presences)
        for table in ("registrations_citizen", "registrations_presence"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), %s)", [max(n, 1)])
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE registrations_citizen")
        conn.execute("VACUUM ANALYZE registrations_presence")
    phones, emails = expected(1, n)
    return SeedReport(n, len(phones), len(emails), round(time.perf_counter() - began, 2))
