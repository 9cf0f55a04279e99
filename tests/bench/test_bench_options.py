"""The benchmark's options that change what it checks: ``--channels``."""

from __future__ import annotations

from bench import report
from bench.main import Bench, parse_args
from bench.seed import expected


def test_a_one_channel_run_expects_only_that_channels_addresses(tmp_path) -> None:
    phones, emails = expected(1, 50)
    both = Bench(parse_args(["--out-dir", str(tmp_path)]))
    email = Bench(parse_args(["--channels", "email", "--out-dir", str(tmp_path)]))
    sms = Bench(parse_args(["--channels", "sms", "--out-dir", str(tmp_path)]))
    assert both.expected(50) == (phones, emails)
    assert email.expected(50) == (set(), emails)
    assert sms.expected(50) == (phones, set())


def test_the_whole_alert_target_is_not_judged_on_one_channel() -> None:
    rnd = {"pipeline": {"total_s": 4.0, "correct": {"ok": True}, "email_recipients_per_s": 21_000.0}}
    line = {"n": 100_000, "latency_ms": 0, "rounds": {"0ms": rnd}}
    whole = [t for t in report.targets(line) if "100,000 citizens" in t["target"]]
    assert whole[0]["met"] is True
    whole = [t for t in report.targets({**line, "channels": "email"}) if "100,000 citizens" in t["target"]]
    assert whole[0]["met"] is None
    email = [t for t in report.targets({**line, "channels": "email"}) if t["target"].startswith("email")]
    assert email[0]["met"] is True
