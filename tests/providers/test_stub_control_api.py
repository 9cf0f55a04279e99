"""Other processes drive the stub over HTTP under /_stub/; ``manage.py provider_stub`` runs it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from alerts.channels import ChannelError, OutgoingMessage, get_channel

ROOT = Path(__file__).resolve().parents[2]


def sms(to: str = "+447700900123") -> OutgoingMessage:
    return OutgoingMessage(channel="sms", to=to, body="Leave now.", reference="delivery:1")


def test_received_lists_what_came_in_with_only_the_fields_asked_for(stub_providers):
    get_channel("sms").send(sms())
    get_channel("email").send(OutgoingMessage(channel="email", to="a@example.org", subject="s", body="b"))

    everything = requests.get(f"{stub_providers.url}/_stub/received", timeout=5).json()["received"]
    only_sms = requests.get(
        f"{stub_providers.url}/_stub/received", params={"api": "sms", "fields": "to,body,status"}, timeout=5
    ).json()["received"]

    assert [r["api"] for r in everything] == ["sms", "email"]
    assert only_sms == [{"to": ["+447700900123"], "body": "Leave now.", "status": 201}]


def test_config_set_over_http_changes_how_the_stub_answers(stub_providers):
    answer = requests.post(f"{stub_providers.url}/_stub/config", json={"latency_ms": 50}, timeout=5)
    assert answer.json()["config"]["latency_ms"] == 50

    get_channel("sms").send(sms())

    (request,) = stub_providers.received("sms")
    assert request["finished"] - request["started"] >= 0.05
    assert requests.get(f"{stub_providers.url}/_stub/config", timeout=5).json()["config"]["latency_ms"] == 50


def test_unknown_settings_are_refused(stub_providers):
    answer = requests.post(f"{stub_providers.url}/_stub/config", json={"latency": 50}, timeout=5)

    assert answer.status_code == 400
    assert stub_providers.config.latency_ms == 0


def test_failures_added_over_http_fail_the_next_requests(stub_providers):
    answer = requests.post(
        f"{stub_providers.url}/_stub/failures",
        json={"api": "sms", "remaining": 2, "twilio_code": 21610, "to": ["+447700900123"]},
        timeout=5,
    )
    assert answer.status_code == 201

    results = get_channel("sms").send_batch([sms(), sms("+447700900124"), sms(), sms()])

    assert [isinstance(r, ChannelError) and r.opted_out for r in results] == [True, False, True, False]


def test_lost_answers_asked_for_over_http_are_taken_but_never_answered(stub_providers):
    rule = requests.post(f"{stub_providers.url}/_stub/failures", json={"api": "sms", "lose_answer": True}, timeout=5)
    assert rule.status_code == 201
    config = requests.post(f"{stub_providers.url}/_stub/config", json={"lose_answer_rate": 1.0}, timeout=5)
    assert config.json()["config"]["lose_answer_rate"] == 1.0

    results = get_channel("sms").send_batch([sms(), sms("+447700900124")])

    assert [isinstance(r, ChannelError) for r in results] == [True, True]
    received = stub_providers.received("sms")
    assert [(r["status"], r["answer_lost"]) for r in received] == [(201, True), (201, True)]
    assert stub_providers.stats()["messages_stored"] == 2  # a look-up finds them
    assert stub_providers.stats()["failed_requests"] == 0


def test_reset_forgets_everything(stub_providers):
    stub_providers.configure(latency_ms=5)
    stub_providers.fail_next(3, twilio_code=21211)
    get_channel("sms").send_batch([sms()])

    assert requests.post(f"{stub_providers.url}/_stub/reset", timeout=5).json() == {"reset": True}

    stats = requests.get(f"{stub_providers.url}/_stub/stats", timeout=5).json()
    assert stats["requests"] == 0 and stats["in_flight_peak"] == 0
    assert stub_providers.config.latency_ms == 0
    get_channel("sms").send(sms())  # the failure rule is gone too


def test_stats_count_requests_failures_and_the_in_flight_peak(stub_providers):
    stub_providers.configure(latency_ms=50)
    stub_providers.fail_next(1, http_status=500)

    get_channel("sms").send_batch([sms(f"+4477009001{n:02d}") for n in range(10)])

    stats = requests.get(f"{stub_providers.url}/_stub/stats", timeout=5).json()
    assert stats["sms_requests"] == 10 and stats["failed_requests"] == 1
    assert stats["in_flight_peak"] == 10


def test_the_public_key_is_published(stub_providers):
    answer = requests.get(f"{stub_providers.url}/_stub/public-key", timeout=5).json()

    assert answer["public_key"] == stub_providers.public_key
    assert answer["public_key"].startswith("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE")  # P-256 SubjectPublicKeyInfo


def test_environ_points_a_worker_process_at_the_stub(provider_stub):
    env = provider_stub.environ()

    assert env["TWILIO_API_BASE_URL"] == env["SENDGRID_API_BASE_URL"] == provider_stub.url
    assert env["SMS_BACKEND"] == "twilio" and env["EMAIL_BACKEND_NAME"] == "sendgrid"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_management_command_serves_until_terminated():
    port = _free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "embassy.settings.test", "TWILIO_AUTH_TOKEN": "tok"}
    process = subprocess.Popen(  # noqa: S603 (our own manage.py)
        [sys.executable, "manage.py", "provider_stub", "--port", str(port), "--latency-ms", "5"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        config = None
        while time.monotonic() < deadline:
            try:
                config = requests.get(f"http://127.0.0.1:{port}/_stub/config", timeout=1).json()["config"]
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert config is not None, "the stub never answered"
        assert config["latency_ms"] == 5 and config["callback_base"] is None
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    assert process.returncode == 0, output
    assert f"provider stub on http://127.0.0.1:{port}" in output
    assert "provider stub stopped" in output


def test_the_management_command_refuses_a_busy_port():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(  # noqa: S603 (our own manage.py)
            [sys.executable, "manage.py", "provider_stub", "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "embassy.settings.test"},
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode != 0
    assert "cannot serve" in result.stderr


@pytest.mark.parametrize("bad", [["--failure-rate", "2"], ["--latency-ms", "-1"]])
def test_the_management_command_refuses_nonsense(bad):
    result = subprocess.run(  # noqa: S603 (our own manage.py)
        [sys.executable, "manage.py", "provider_stub", "--port", "0", *bad],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "embassy.settings.test"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0


def test_without_records_the_stub_still_counts(stub_providers):
    stub_providers.configure(keep_records=False)

    get_channel("sms").send_batch([sms(), sms("+447700900124")])

    assert stub_providers.received() == []
    assert stub_providers.stats()["sms_requests"] == 2
