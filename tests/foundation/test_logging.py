from __future__ import annotations

import logging

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
