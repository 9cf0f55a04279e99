"""The benchmark's options that change what it checks: ``--channels``."""

from __future__ import annotations

from bench import report
from bench.main import Bench, parse_args, reached
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


def test_the_sms_target_is_judged_against_the_mean_of_the_ceilings_before_and_after() -> None:
    rnd = {
        "ceiling_sms": {"sms_per_s": 4000.0},
        "ceiling_sms_after": {"sms_per_s": 5000.0},
        "pipeline": {"sms_per_s": 3200.0},
    }
    figures = report.derived(rnd)
    assert figures["sms_ceiling_mean"] == 4500.0
    assert figures["sms_pct_of_ceiling"] == 71.1
    assert figures["sms_pct_range"] == "64.0-80.0"
    assert figures["sms_ceilings"] == "4,000 / 5,000"
    sms = [t for t in report.targets({"rounds": {"0ms": rnd}}) if t["target"].startswith("SMS >= 70%")]
    assert sms[0] == {"target": "SMS >= 70% of the ceiling (0ms)", "value": 71.1, "met": True}
    # A round measured once (an email-only alert, or an older JSON line): that ceiling alone.
    once = report.derived({"ceiling_sms": {"sms_per_s": 4000.0}, "pipeline": {"sms_per_s": 3200.0}})
    assert once["sms_pct_of_ceiling"] == 80.0 and once["sms_pct_range"] is None


def test_citizens_are_reached_by_their_first_message_on_any_channel() -> None:
    # Citizen 1 has both contacts: the email at 10.2 s warns them, the SMS at 10.5 s is
    # second. Citizen 3 has a phone alone. Addresses we did not seed are not citizens.
    records = [
        {"to": ["+93700000001"], "received_at": 10.5},
        {"to": ["c1@bench.example", "c2@bench.example"], "received_at": 10.2},
        {"to": ["+93700000003"], "received_at": 12.0},
        {"to": ["someone@else.example"], "received_at": 9.0},
    ]
    assert reached(records, 10.0) == {
        "citizens_reached": 3,
        "reached_half_s": 0.2,
        "reached_90_s": 2.0,
        "reached_all_s": 2.0,
    }
    assert reached([], 10.0) == {}
    line = {"n": 3, "rounds": {"0ms": {"pipeline": {"citizens_reached": 3, **reached(records, 10.0)}}}}
    assert "citizens reached: half / 90% / all (s)" in report.table(line)
    assert "0.20 / 2.00 / 2.00" in report.table(line)
