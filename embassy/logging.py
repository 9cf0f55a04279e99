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
# digits not right after a decimal point (the fraction of a duration: Celery's "succeeded
# in 8.123456789e-05s"); timestamps and counts do not look like either.
_PHONE = r"\+\d[\d \-().]{5,}\d|(?<![\d.])\d{9,15}(?!\d)"
# Identifiers whose digits are not numbers: UUIDs (Celery task ids) and long tokens of
# letters and digits (Twilio SIDs, SendGrid message ids). Kept whole, so that a log line
# still names the message it is about, instead of "SMe76ae57fce[phone]c0a72186776".
_IDENTIFIER = (
    r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    r"|(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{20,}"
)
_IDENTIFIER_OR_PHONE = re.compile(f"(?P<identifier>{_IDENTIFIER})|{_PHONE}")


def _mask_phone(match: re.Match[str]) -> str:
    return match.group() if match.group("identifier") else "[phone]"


def redact(text: str) -> str:
    """Return ``text`` with emails and phone-like digit runs masked."""
    text = _EMAIL.sub("[email]", text)
    return _IDENTIFIER_OR_PHONE.sub(_mask_phone, text)


def mask_phone(number: str) -> str:
    """A loggable hint of a phone number: its last two digits only."""
    return f"…{number[-2:]}" if number else ""


class RedactContactsFilter(logging.Filter):
    """Rewrites each record's message, exception traceback and stack with contacts masked;
    never drops a record.

    An exception's message often carries the address it was about (a provider's error, a
    database constraint's DETAIL), and a formatter writes the traceback after the filters
    ran: the traceback is formatted here, masked, and kept as the record's ``exc_text``
    (which formatters write as it is), and ``exc_info`` is cleared so that none formats the
    raw one again.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is still worth logging, masked
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_TRACEBACKS = logging.Formatter()


def redact_handlers(*logger_names: str) -> None:
    """Give every handler of the named loggers (none named: every logger there is, the
    root included) the ``RedactContactsFilter``, once.

    For handlers set up outside ``LOGGING``: Celery's (``embassy.celery``) and gunicorn's
    own error log (``gunicorn.conf.py``).
    """
    if logger_names:
        loggers = [logging.getLogger(name) for name in logger_names]
    else:
        loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):  # placeholders have none
            if not any(isinstance(f, RedactContactsFilter) for f in handler.filters):
                handler.addFilter(RedactContactsFilter())
