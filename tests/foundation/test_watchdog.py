"""The watchdog (``manage.py watchdog``, ``embassy.watchdog``) tells on-call when
background work stops: a problem that lasts the grace is sent once by webhook, email and
SMS (the real SDKs, to the loopback provider stub; the webhook to a loopback receiver),
reminded every repeat interval, its end told once; a restart does not page again; one
route failing does not stop the others; no address or token in the logs; bad settings
are refused. Redis down is a real closed port; the database is real PostgreSQL."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.utils import timezone

from embassy import health, watchdog
from tests.fixtures.loopback_http import Answer, Request, serve

pytestmark = [pytest.mark.django_db, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]
EMAILS = ["duty.officer@embassy.example", "consul@embassy.example"]
PHONE = "+93701234567"  # a valid Afghan mobile number
TOKEN = "T0-B0-watchdog-secret-token"
GRACE = 180
REPEAT = 3600


@dataclass
class Receiver:
    """A loopback incoming-webhook receiver: answers ``status`` and keeps each POST."""

    url: str
    status: int = 200
    received: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found: Receiver

    def answer(request: Request) -> Answer:
        if found.status == 200:
            assert request.headers["Content-Type"] == "application/json"
            found.received.append(json.loads(request.body))
            found.paths.append(request.path)
        return found.status, {}, b""

    with serve(answer) as url:
        found = Receiver(url=url)
        yield found


@pytest.fixture
def state_file(settings, tmp_path: Path) -> Path:
    settings.WATCHDOG_STATE_FILE = tmp_path / "watchdog-state.json"
    return settings.WATCHDOG_STATE_FILE


@pytest.fixture
def routes(settings, stub_providers, receiver: Receiver, state_file: Path):  # type: ignore[no-untyped-def]
    """Every route configured: the webhook (with a token in its path), two emails, one phone."""
    settings.WATCHDOG_WEBHOOK_URL = f"{receiver.url}/hooks/{TOKEN}"
    settings.WATCHDOG_EMAILS = list(EMAILS)
    settings.WATCHDOG_PHONES = [PHONE]
    settings.WATCHDOG_NOTIFY_AFTER_SECONDS = GRACE
    settings.WATCHDOG_REPEAT_SECONDS = REPEAT
    return stub_providers


def beat_and_workers_alive() -> None:
    """What a live beat and live send workers write: every heartbeat just now."""
    cache.set(health.SWEEP_HEARTBEAT_KEY, time.time(), timeout=None)
    for queue in ("send-email", "send-sms"):
        cache.set(health.QUEUE_HEARTBEAT_KEY + queue, time.time(), timeout=None)


class Redis:
    """Redis down for real (a closed port, as the broker and the cache) and up again."""

    def __init__(self, settings: Any, outage: Any) -> None:
        self.settings, self.outage, self.url = settings, outage, settings.REDIS_URL

    def down(self) -> None:
        self.outage.down()
        self.settings.REDIS_URL = self.outage.url

    def up(self) -> None:
        self.outage.up()
        self.settings.REDIS_URL = self.url
        beat_and_workers_alive()


@pytest.fixture
def redis(settings, redis_outage) -> Redis:  # type: ignore[no-untyped-def]
    assert settings.REDIS_URL, "needs the test Redis"
    beat_and_workers_alive()
    return Redis(settings, redis_outage)


def sent(stub) -> dict[str, list[dict[str, Any]]]:  # type: ignore[no-untyped-def]
    """What reached the stub: SMS requests and email requests."""
    return {"sms": stub.received("sms"), "email": stub.received("email")}


def email_recipients(stub) -> list[str]:  # type: ignore[no-untyped-def]
    return [address for record in stub.received("email") for address in record["to"]]


def test_redis_down_past_the_grace_pages_once_by_webhook_email_and_sms(routes, receiver, redis, state_file) -> None:
    t0 = time.time()
    assert watchdog.check(state_file, now=t0) is None  # all well
    redis.down()
    assert watchdog.check(state_file, now=t0 + 10) is None  # seen, in its grace
    assert watchdog.check(state_file, now=t0 + 10 + GRACE - 1) is None
    assert receiver.received == [] and sent(routes) == {"sms": [], "email": []}

    notice = watchdog.check(state_file, now=t0 + 10 + GRACE)
    assert notice is not None and notice.event == "problem"

    (posted,) = receiver.received
    assert receiver.paths == [f"/hooks/{TOKEN}"]
    assert posted["event"] == "problem" and posted["codes"] == ["broker"]
    assert posted["since"] == watchdog._iso(t0 + 10)
    assert posted["host"] and posted["host"] == notice.host
    assert "Redis" in posted["text"] and "nothing is sent" in posted["text"]
    (problem,) = posted["problems"]
    assert problem["code"] == "broker" and problem["new"] is True and "runbook 4.3" in problem["text"]

    assert sorted(email_recipients(routes)) == sorted(EMAILS)
    (email,) = routes.received("email")
    assert (
        email["json"]["subject"].startswith("[Embassy alerts] PROBLEM on ") and "Redis down" in email["json"]["subject"]
    )
    assert "Redis (the Celery broker) does not answer" in email["body"]
    (sms,) = routes.received("sms")
    assert sms["to"] == [PHONE]
    assert "PROBLEM: Redis down since" in sms["body"] and len(sms["body"]) <= watchdog.SMS_MAX_CHARS


def test_a_problem_shorter_than_the_grace_pages_nobody(routes, receiver, redis, state_file) -> None:
    t0 = time.time()
    redis.down()
    watchdog.check(state_file, now=t0)
    watchdog.check(state_file, now=t0 + GRACE - 60)
    redis.up()  # a Redis restart
    assert watchdog.check(state_file, now=t0 + GRACE - 1) is None
    assert watchdog.check(state_file, now=t0 + 10 * GRACE) is None
    assert receiver.received == [] and sent(routes) == {"sms": [], "email": []}
    assert watchdog.load_state(state_file) == {}


def test_still_down_pages_again_only_after_the_repeat_interval(routes, receiver, redis, state_file) -> None:
    t0 = time.time()
    redis.down()
    watchdog.check(state_file, now=t0)
    watchdog.check(state_file, now=t0 + GRACE)  # the page
    for later in (60, 600, REPEAT - 1):
        assert watchdog.check(state_file, now=t0 + GRACE + later) is None
    assert len(receiver.received) == 1 and len(routes.received("sms")) == 1 and len(routes.received("email")) == 1

    notice = watchdog.check(state_file, now=t0 + GRACE + REPEAT)
    assert notice is not None and notice.event == "reminder"
    assert [p["event"] for p in receiver.received] == ["problem", "reminder"]
    assert receiver.received[1]["codes"] == ["broker"] and receiver.received[1]["problems"][0]["new"] is False
    assert "STILL DOWN" in routes.received("email")[1]["json"]["subject"]
    assert "STILL DOWN: Redis down" in routes.received("sms")[1]["body"]
    # ... and the next one a whole interval after that one.
    assert watchdog.check(state_file, now=t0 + GRACE + 2 * REPEAT - 1) is None
    assert watchdog.check(state_file, now=t0 + GRACE + 2 * REPEAT).event == "reminder"


def test_the_end_of_a_told_problem_is_told_once(routes, receiver, redis, state_file) -> None:
    t0 = time.time()
    redis.down()
    watchdog.check(state_file, now=t0)
    watchdog.check(state_file, now=t0 + GRACE)
    redis.up()
    notice = watchdog.check(state_file, now=t0 + GRACE + 60)
    assert notice is not None and notice.event == "resolved"
    assert watchdog.check(state_file, now=t0 + GRACE + 120) is None
    assert watchdog.check(state_file, now=t0 + GRACE + 2 * REPEAT) is None

    assert [p["event"] for p in receiver.received] == ["problem", "resolved"]
    resolved = receiver.received[1]
    assert resolved["codes"] == [] and [r["code"] for r in resolved["resolved"]] == ["broker"]
    assert resolved["since"] == watchdog._iso(t0)
    assert "RESOLVED" in routes.received("email")[1]["json"]["subject"]
    assert "RESOLVED: Redis down" in routes.received("sms")[1]["body"]
    assert len(routes.received("sms")) == 2 and len(email_recipients(routes)) == 4
    assert watchdog.load_state(state_file) == {}


def _watchdog_process(stub, receiver: Receiver, state: Path, redis_url: str) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    """``manage.py watchdog --once`` in a process of its own, as cron or a restart runs it."""
    from tests.fixtures import worker

    env = {
        **os.environ,
        **stub.environ(),
        "DJANGO_SETTINGS_MODULE": "embassy.settings.local",
        "SECRET_KEY": "watchdog-test-" + "k" * 40,
        "DATABASE_URL": worker.test_database_url(),
        "REDIS_URL": redis_url,
        "TWILIO_MESSAGING_SERVICE_SID": "MG" + "1" * 32,
        "EMAIL_FROM_ADDRESS": "alerts@embassy.example",
        "WATCHDOG_WEBHOOK_URL": f"{receiver.url}/hooks/{TOKEN}",
        "WATCHDOG_EMAILS": ",".join(EMAILS),
        "WATCHDOG_PHONES": "+93 70 123 4567",
        "WATCHDOG_NOTIFY_AFTER_SECONDS": "0",
        "WATCHDOG_STATE_FILE": str(state),
        "EMBASSY_LOOPBACK_ONLY": "1",
        "LOG_LEVEL": "DEBUG",
    }
    return subprocess.run(
        [sys.executable, "manage.py", "watchdog", "--once"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _assert_nothing_personal(text: str) -> None:
    for secret in (*EMAILS, PHONE, PHONE[1:], "70 123 4567", "701234567", TOKEN):
        assert secret not in text
    assert "@" not in text.replace("[email]", "")


def test_a_restarted_watchdog_does_not_page_again_for_the_same_problem(
    provider_stub, receiver, redis_outage, tmp_path
) -> None:
    state = tmp_path / "watchdog-state.json"
    first = _watchdog_process(provider_stub, receiver, state, redis_outage.url)
    assert first.returncode == 0, first.stderr
    assert "problems remembered: broker; sent: problem" in first.stdout
    assert [p["event"] for p in receiver.received] == ["problem"]
    assert len(provider_stub.received("sms")) == 1 and len(provider_stub.received("email")) == 1

    again = _watchdog_process(provider_stub, receiver, state, redis_outage.url)  # a restart: a new process
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "watchdog: problems remembered: broker"
    assert [p["event"] for p in receiver.received] == ["problem"]
    assert len(provider_stub.received("sms")) == 1 and len(provider_stub.received("email")) == 1
    # What the processes wrote to their logs (the project's handlers, at DEBUG).
    for run in (first, again):
        _assert_nothing_personal(run.stdout + run.stderr)
    assert "watchdog: problem notice sent (webhook taken, email taken, sms taken)" in first.stderr

    state.unlink()  # what made the difference: its memory
    forgot = _watchdog_process(provider_stub, receiver, state, redis_outage.url)
    assert forgot.returncode == 0, forgot.stderr
    assert [p["event"] for p in receiver.received] == ["problem", "problem"]


@pytest.mark.parametrize("failing", ["webhook", "email", "sms"])
def test_one_route_failing_lets_the_others_go(routes, receiver, redis, state_file, failing, caplog) -> None:
    if failing == "webhook":
        receiver.status = 500
    elif failing == "email":
        routes.fail_next(None, api="email", http_status=500)
    else:
        routes.fail_next(None, api="sms", twilio_code=21211)  # Twilio: the 'To' number is not valid
    t0 = time.time()
    redis.down()
    watchdog.check(state_file, now=t0)
    with caplog.at_level(logging.INFO, logger="embassy.watchdog"):
        notice = watchdog.check(state_file, now=t0 + GRACE)
    assert notice is not None

    got = {
        "webhook": [p["event"] for p in receiver.received],
        "email": sorted(email_recipients(routes)) if failing != "email" else [],
        "sms": [r["to"] for r in routes.received("sms")] if failing != "sms" else [],
    }
    expected = {"webhook": ["problem"], "email": sorted(EMAILS), "sms": [[PHONE]]}
    expected[failing] = []
    assert got == expected
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and r.name == "embassy.watchdog"]
    assert errors and all(failing in line for line in errors)
    assert f"{failing} FAILED" in caplog.text
    # Told: the next check pages nobody, even on the route that failed.
    assert watchdog.check(state_file, now=t0 + GRACE + 60) is None


def test_a_notice_no_route_took_is_tried_again_at_the_next_check(routes, receiver, redis, state_file) -> None:
    receiver.status = 503
    routes.fail_next(None, api="email", http_status=500)
    routes.fail_next(None, api="sms", http_status=500)
    t0 = time.time()
    redis.down()
    watchdog.check(state_file, now=t0)
    assert watchdog.check(state_file, now=t0 + GRACE).event == "problem"
    assert watchdog.load_state(state_file)["broker"].notified_at is None

    receiver.status = 200
    routes.reset()
    assert watchdog.check(state_file, now=t0 + GRACE + 60).event == "problem"
    assert [p["event"] for p in receiver.received] == ["problem"] and len(routes.received("sms")) == 1
    assert watchdog.check(state_file, now=t0 + GRACE + 120) is None


def test_nothing_personal_reaches_the_watchdog_log_lines(routes, receiver, redis, state_file, caplog) -> None:
    """Its own lines, before any handler's filter masks anything: the phone as its last
    two digits, an email by its place, the webhook's URL not at all."""
    receiver.status = 500
    routes.fail_next(None, api="email", http_status=400)
    routes.fail_next(None, api="sms", twilio_code=21211)
    caplog.set_level(logging.DEBUG)
    t0 = time.time()
    redis.down()
    for later in (0, GRACE, GRACE + 60):
        watchdog.check(state_file, now=t0 + later)
    mine = "\n".join(r.getMessage() for r in caplog.records if r.name == "embassy.watchdog")
    assert "webhook did not take the problem notice (HTTP 500)" in mine
    assert "sms to WATCHDOG_PHONES entry 1 (…67) not sent" in mine
    assert "email to WATCHDOG_EMAILS entry 1 not sent" in mine and "email to WATCHDOG_EMAILS entry 2 not sent" in mine
    _assert_nothing_personal(mine)
    _assert_nothing_personal(state_file.read_text())


def test_postgresql_down_is_told_and_remembered_without_it(routes, receiver, redis, state_file, monkeypatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("connection refused")

    t0 = time.time()
    monkeypatch.setattr(health, "_probe_postgresql", refuse)
    watchdog.check(state_file, now=t0)
    notice = watchdog.check(state_file, now=t0 + GRACE)
    assert notice is not None and [code for code, _ in notice.ongoing] == ["database"]
    assert receiver.received[0]["codes"] == ["database"] and "runbook 4.4" in receiver.received[0]["text"]
    assert len(routes.received("sms")) == 1 and len(email_recipients(routes)) == 2
    assert watchdog.check(state_file, now=t0 + GRACE + 60) is None
    monkeypatch.undo()
    assert watchdog.check(state_file, now=t0 + GRACE + 120).event == "resolved"


def _pause_sms() -> None:
    from alerts.models import ChannelPause

    now = timezone.now()
    ChannelPause.objects.create(
        channel="sms", kind=ChannelPause.Kind.ACCOUNT, code="20003", since=now, refused_at=now, until=now
    )


def test_a_paused_channel_is_told_and_its_end_too(routes, receiver, redis, state_file) -> None:
    from alerts.models import ChannelPause

    _pause_sms()
    t0 = time.time()
    watchdog.check(state_file, now=t0)
    assert watchdog.check(state_file, now=t0 + GRACE).event == "problem"
    (problem,) = receiver.received[0]["problems"]
    assert problem["code"] == "paused:sms"
    assert "refuses the embassy's own account (code 20003)" in problem["text"] and "runbook 4.1" in problem["text"]
    ChannelPause.objects.all().delete()
    assert watchdog.check(state_file, now=t0 + GRACE + 60).event == "resolved"


def test_a_pause_held_after_a_restore_says_so(routes, receiver, redis, state_file) -> None:
    from alerts.models import ChannelPause

    now = timezone.now()
    ChannelPause.objects.create(channel="email", kind="restored", code="restored", since=now, refused_at=now, until=now)
    t0 = time.time()
    watchdog.check(state_file, now=t0)
    watchdog.check(state_file, now=t0 + GRACE)
    (problem,) = receiver.received[0]["problems"]
    assert problem["code"] == "paused:email" and "restored or failed over" in problem["text"]
    assert "until an administrator resumes it" in problem["text"] and "runbook 7" in problem["text"]


def test_a_pause_is_neither_told_over_nor_resolved_while_the_database_cannot_say(
    routes, receiver, redis, state_file, monkeypatch
) -> None:
    _pause_sms()
    t0 = time.time()
    watchdog.check(state_file, now=t0)
    watchdog.check(state_file, now=t0 + GRACE)

    monkeypatch.setattr(health, "_probe_postgresql", lambda *a, **k: (_ for _ in ()).throw(OSError("down")))
    watchdog.check(state_file, now=t0 + GRACE + 10)
    notice = watchdog.check(state_file, now=t0 + 2 * GRACE + 10)
    assert notice.event == "problem" and notice.new == ["database"] and notice.resolved == []
    assert [p["codes"] for p in receiver.received] == [["paused:sms"], ["database", "paused:sms"]]


def test_beat_or_the_workers_stopped_is_told(routes, receiver, redis, state_file) -> None:
    t0 = time.time()
    cache.set(health.SWEEP_HEARTBEAT_KEY, time.time() - 10 * 60, timeout=None)  # beat stopped 10 minutes ago
    cache.delete(health.QUEUE_HEARTBEAT_KEY + "send-sms")  # no SMS worker since Redis started
    watchdog.check(state_file, now=t0)
    notice = watchdog.check(state_file, now=t0 + GRACE)
    assert notice is not None and notice.new == ["queue:sms", "sweep"]
    texts = {p["code"]: p["text"] for p in receiver.received[0]["problems"]}
    assert "has not run for 10 min" in texts["sweep"] and "runbook 4.6" in texts["sweep"]
    assert "send-sms queue" in texts["queue:sms"]


def test_redis_down_hides_the_heartbeats_without_resolving_them(routes, receiver, redis, state_file) -> None:
    t0 = time.time()
    cache.set(health.SWEEP_HEARTBEAT_KEY, time.time() - 10 * 60, timeout=None)
    watchdog.check(state_file, now=t0)
    watchdog.check(state_file, now=t0 + GRACE)  # sweep told
    redis.down()  # now nothing says whether beat runs
    watchdog.check(state_file, now=t0 + GRACE + 10)
    notice = watchdog.check(state_file, now=t0 + 2 * GRACE + 10)
    assert notice.new == ["broker"] and notice.resolved == []
    assert [code for code, _ in notice.ongoing] == ["broker", "sweep"]


def test_the_command_checks_once_and_says_what_it_remembers(routes, receiver, redis, state_file, settings) -> None:
    from io import StringIO

    settings.WATCHDOG_NOTIFY_AFTER_SECONDS = 0
    redis.down()
    out = StringIO()
    call_command("watchdog", "--once", stdout=out)
    assert out.getvalue().strip() == "watchdog: problems remembered: broker; sent: problem"
    assert [p["codes"] for p in receiver.received] == [["broker"]]


def test_the_command_refuses_without_a_route_a_usable_state_file_or_alone(settings, tmp_path) -> None:
    settings.WATCHDOG_WEBHOOK_URL, settings.WATCHDOG_EMAILS, settings.WATCHDOG_PHONES = "", [], []
    with pytest.raises(CommandError, match="no notification route: set WATCHDOG_WEBHOOK_URL"):
        call_command("watchdog", "--once")
    settings.WATCHDOG_EMAILS = list(EMAILS)
    settings.WATCHDOG_STATE_FILE = tmp_path / "missing-folder" / "state.json"
    with pytest.raises(CommandError, match="its folder must exist and be writable"):
        call_command("watchdog", "--once")
    settings.WATCHDOG_STATE_FILE = tmp_path / "state.json"
    with watchdog.exclusive(settings.WATCHDOG_STATE_FILE):  # another watchdog runs
        with pytest.raises(CommandError, match="another watchdog is running"):
            call_command("watchdog", "--once")


def test_a_state_file_it_cannot_read_costs_a_notice_again_not_silence(routes, receiver, redis, state_file) -> None:
    t0 = time.time()
    redis.down()
    watchdog.check(state_file, now=t0)
    state_file.write_text("{not json")
    watchdog.check(state_file, now=t0 + GRACE)  # starts afresh: its grace again
    assert watchdog.check(state_file, now=t0 + 2 * GRACE).event == "problem"


# --- settings -------------------------------------------------------------------------


def test_the_route_settings_are_read_strictly(monkeypatch) -> None:
    from embassy.env import env_email_list, env_http_url, env_phone_list

    monkeypatch.setenv("X_PHONES", "+93 70 123 4567, +44 7911 123456")
    assert env_phone_list("X_PHONES") == ["+93701234567", "+447911123456"]
    for bad in ("0701234567", "+93 70", "+1 555 not"):
        monkeypatch.setenv("X_PHONES", f"+447911123456,{bad}")
        with pytest.raises(ImproperlyConfigured, match="X_PHONES: entry 2 of 2 is not a phone number") as refused:
            env_phone_list("X_PHONES")
        assert bad not in str(refused.value)

    monkeypatch.setenv("X_EMAILS", "duty@embassy.example, consul@embassy.example")
    assert env_email_list("X_EMAILS") == ["duty@embassy.example", "consul@embassy.example"]
    monkeypatch.setenv("X_EMAILS", "officer@kabul.example;head@kabul.example")
    with pytest.raises(ImproperlyConfigured, match="X_EMAILS: entry 1 of 1 is not an email address") as refused:
        env_email_list("X_EMAILS")
    assert "kabul.example" not in str(refused.value)

    monkeypatch.setenv("X_HOOK", "https://hooks.example.org/services/T0/B0/xyz")
    assert env_http_url("X_HOOK") == "https://hooks.example.org/services/T0/B0/xyz"
    monkeypatch.delenv("X_HOOK")
    assert env_http_url("X_HOOK") == ""
    for bad in ("hooks.example.org/xyz-secret", "ftp://hooks.example.org/xyz-secret", "https:///xyz-secret"):
        monkeypatch.setenv("X_HOOK", bad)
        with pytest.raises(ImproperlyConfigured, match="X_HOOK must be an http:// or https:// URL") as refused:
            env_http_url("X_HOOK")
        assert "xyz-secret" not in str(refused.value)


def _settings_start(
    env: dict[str, str], settings_module: str = "embassy.settings.local"
) -> subprocess.CompletedProcess:
    code = "import django; django.setup(); from django.conf import settings as s; print(s.WATCHDOG_PHONES)"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": settings_module, "SECRET_KEY": "k" * 50, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("WATCHDOG_INTERVAL_SECONDS", "a minute", "WATCHDOG_INTERVAL_SECONDS must be a number"),
        ("WATCHDOG_INTERVAL_SECONDS", "1", "WATCHDOG_INTERVAL_SECONDS must be at least 5.0"),
        ("WATCHDOG_NOTIFY_AFTER_SECONDS", "-1", "WATCHDOG_NOTIFY_AFTER_SECONDS must be at least 0"),
        ("WATCHDOG_REPEAT_SECONDS", "1h", "WATCHDOG_REPEAT_SECONDS must be a whole number"),
        ("WATCHDOG_PHONES", "0701234567", "WATCHDOG_PHONES: entry 1 of 1 is not a phone number"),
        ("WATCHDOG_EMAILS", "duty", "WATCHDOG_EMAILS: entry 1 of 1 is not an email address"),
        ("WATCHDOG_WEBHOOK_URL", "hooks.example.org/T0", "WATCHDOG_WEBHOOK_URL must be an http:// or https:// URL"),
        ("WATCHDOG_STATE_FILE", "/", "WATCHDOG_STATE_FILE must name a file"),
    ],
)
def test_a_process_with_a_bad_watchdog_setting_does_not_start(name, value, says) -> None:
    result = _settings_start({name: value})
    assert result.returncode != 0
    assert says in result.stderr


def test_a_process_reads_the_watchdog_settings() -> None:
    result = _settings_start({"WATCHDOG_PHONES": "+93 70 123 4567"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['+93701234567']"


def test_production_refuses_to_start_without_a_route() -> None:
    from embassy.deployment import deployment_problems
    from tests.foundation.production_env import PRODUCTION_ENV
    from tests.foundation.test_deployment_settings import GOOD

    without = {k: v for k, v in GOOD.items() if not k.startswith("WATCHDOG_")}
    (problem,) = deployment_problems(without)
    assert problem.startswith("No watchdog notification route: set WATCHDOG_WEBHOOK_URL, WATCHDOG_EMAILS")
    for route in ({"WATCHDOG_WEBHOOK_URL": "https://hooks.example.org/x"}, {"WATCHDOG_PHONES": [PHONE]}):
        assert deployment_problems({**without, **route}) == []

    env = {k: v for k, v in PRODUCTION_ENV.items() if not k.startswith("WATCHDOG_")}
    refused = _settings_start(env, "embassy.settings.production")
    assert refused.returncode != 0
    assert "- No watchdog notification route" in refused.stderr
    started = _settings_start(
        {**env, "WATCHDOG_WEBHOOK_URL": "https://hooks.alerts.example/x"}, "embassy.settings.production"
    )
    assert started.returncode == 0, started.stderr
