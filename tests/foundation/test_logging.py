from __future__ import annotations

import logging
import sys

from embassy.logging import RedactContactsFilter, redact


def test_contacts_are_masked_in_log_lines():
    line = "sent to +93 70 123 4567 and sara@example.org, also 0093701234567"
    masked = redact(line)
    assert "4567" not in masked and "sara@" not in masked and "0093701234567" not in masked


def test_timestamps_and_counts_are_left_alone():
    line = "older than 2026-11-24 15:28:40+00:00, 1500 deliveries, alert 42"
    assert redact(line) == line


def test_the_filter_rewrites_records_with_arguments():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "to %s", ("+447700900123",), None)
    RedactContactsFilter().filter(record)
    assert "+447700900123" not in record.getMessage()


def _record_with_exception() -> logging.LogRecord:
    try:
        raise ValueError("Twilio 21211: +447700900123 is not valid; sendgrid refused sara@example.org")
    except ValueError:
        return logging.LogRecord("x", logging.ERROR, __file__, 1, "send failed", None, sys.exc_info())


def test_the_filter_masks_exception_tracebacks_and_stacks():
    record = _record_with_exception()
    record.stack_info = "Stack (most recent call last):\n  send(to='+447700900123')"
    RedactContactsFilter().filter(record)
    written = logging.Formatter("%(levelname)s %(message)s").format(record)
    assert "send failed" in written and "ValueError: Twilio 21211: [phone] is not valid" in written
    assert "Traceback (most recent call last)" in written
    assert "+447700900123" not in written and "sara@example.org" not in written


def test_a_traceback_another_handler_already_formatted_is_masked_too():
    record = _record_with_exception()
    record.exc_text = logging.Formatter().formatException(record.exc_info)
    RedactContactsFilter().filter(record)
    assert "+447700900123" not in logging.Formatter().format(record)


def test_message_and_task_identifiers_are_kept_whole():
    line = (
        "twilio accepted SMe76ae57fce123456789c0a72186776 and SM447700900123ab0c1d2e3f4a5b6c7d8e9f"
        " in task 57ea4570-779e-474c-840d-123456789012, sendgrid id 14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"
    )
    assert redact(line) == line


def test_numbers_next_to_identifiers_or_url_encoded_are_still_masked():
    for line in (
        "GET /Messages.json?To=%2B447700900123&PageSize=20",
        "To=447700900123",
        "b'\\x00447700900123'",
        "SMe76ae57fce123456789c0a72186776 to +447700900123",
        "task 57ea4570-779e-474c-840d-123456789012 to 447700900123",
        "to447700900123",
    ):
        assert "447700900123" not in redact(line), line


def test_the_fraction_of_a_duration_is_not_a_phone_number():
    line = "Task alerts.tasks.queue_heartbeat[1] succeeded in 8.123456789e-05s: None; took 0.1234567890 s"
    assert redact(line) == line
    assert redact("call 0701234567 now") == "call [phone] now"  # a bare number is still masked
