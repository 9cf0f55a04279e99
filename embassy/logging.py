"""Keep phone numbers and email addresses out of the logs.

Contact details of people in danger must never end up in log files or log shippers. The
filter masks anything that looks like an E.164 number or an email address in every
record, whatever logger it came from, before any handler writes it.
"""

from __future__ import annotations

import logging
import re

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
# An international number (+ then digits, spaces, dashes), or a bare run of 9 to 15
# digits; timestamps and counts do not look like either.
_PHONE = re.compile(r"\+\d[\d \-().]{5,}\d|(?<!\d)\d{9,15}(?!\d)")


def redact(text: str) -> str:
    """Return ``text`` with emails and phone-like digit runs masked."""
    text = _EMAIL.sub("[email]", text)
    return _PHONE.sub("[phone]", text)


def mask_phone(number: str) -> str:
    """A loggable hint of a phone number: its last two digits only."""
    return f"…{number[-2:]}" if number else ""


class RedactContactsFilter(logging.Filter):
    """Rewrites each record's message with contacts masked; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is still worth logging, masked
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        return True
