"""End to end: no citizen's phone number or email address reaches any log.

A real worker (DEBUG log level, as the project allows by ``LOG_LEVEL``) sends a live
alert to a few dozen citizens through the Twilio and SendGrid SDKs to the loopback stub,
with the failure paths that handle addresses injected: permanent Twilio errors (21211
invalid number, 21610 opted out), a transient 503 then a retry, a SendGrid 400 that
blames one personalization, a lost SMS answer (looked up), signed status callbacks and
SendGrid events into a live server, and inbound SMS from a registered and an unknown
number; and two probes that put contacts in the worker's log lines whatever our code
logs (a message task failing on an error that names its address, and a task no worker
knows, whose body Celery logs). Then everything the worker wrote (its stdout and stderr) and every record the
test process's loggers emitted, written the way production writes them (the project's
``LOGGING`` handler, formatter and filters), is searched for every citizen's number
(E.164, digits only, national, the last seven digits) and email address.
"""

from __future__ import annotations

import io
import logging
import logging.config
import random
import re
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from alerts.models import Alert, Delivery, InboundMessage
from alerts.tasks import send_single_message
from embassy.celery import app as celery_app
from registrations.models import Citizen, Presence
from tests.fixtures.worker import wait_until
from tests.pipeline.e2e import accepted_counts, approve_live, open_deliveries, worker_env
from tests.webhooks.helpers import sms_to_live_server

pytestmark = [pytest.mark.worker, pytest.mark.postgres, pytest.mark.redis]

PEOPLE = 30
# Timestamps and hex identifiers (task ids, SIDs, message ids) are not contacts: left out
# of the digit search so that they cannot match a number's last seven digits by chance.
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:[+-]\d{2}:?\d{2}|Z)?")
_HEX_ID = re.compile(r"(?=[0-9A-Fa-f\-]*[A-Fa-f])[0-9A-Fa-f\-]{16,}")
_DIGIT_RUN = re.compile(r"\d[\d \-().]*\d")


def contact_forms(phones: list[str], emails: list[str]) -> tuple[set[str], set[str]]:
    """Exact strings that give a contact away, and the last seven digits of each number."""
    exact: set[str] = set()
    tails: set[str] = set()
    for phone in phones:
        digits = phone.lstrip("+")
        national = "0" + digits[2:]  # +44 7... -> 07...
        exact |= {phone, digits, national, quote(phone, safe=""), f"{digits[:2]} {digits[2:6]} {digits[6:]}"}
        tails.add(digits[-7:])
    for email in emails:
        local, domain = email.split("@")
        exact |= {email.lower(), f"{local}@".lower(), quote(email, safe="").lower()}
    return exact, tails


def leaks(text: str, phones: list[str], emails: list[str]) -> list[str]:
    """What in ``text`` gives away one of the contacts, each with a little context."""
    exact, tails = contact_forms(phones, emails)
    found = []
    lowered = text.lower()
    for form in sorted(exact):
        at = lowered.find(form.lower())
        if at >= 0:
            found.append(f"{form!r}: ...{text[max(0, at - 80) : at + 80]!r}...")
    scrubbed = _HEX_ID.sub(" ", _TIMESTAMP.sub(" ", text))
    for run in _DIGIT_RUN.finditer(scrubbed):
        digits = re.sub(r"\D", "", run.group())
        for tail in tails:
            if tail in digits:
                found.append(f"last digits {tail!r} in {run.group()!r}")
    return found


def production_handler() -> tuple[logging.Handler, io.StringIO]:
    """A handler built from the project's ``LOGGING`` console handler (its formatter and
    filters), writing to a buffer instead of stderr."""
    config = django_settings.LOGGING
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter(config["formatters"]["plain"]["format"]))
    for name in config["handlers"]["console"]["filters"]:
        spec = dict(config["filters"][name])
        factory = spec.pop("()")
        module, _, attribute = factory.rpartition(".")
        handler.addFilter(getattr(__import__(module, fromlist=[attribute]), attribute)(**spec))
    handler.setLevel(logging.DEBUG)
    return handler, buffer


@pytest.fixture
def test_process_log() -> Iterator[io.StringIO]:
    """Everything this process logs while the test runs, at DEBUG, as production writes it."""
    handler, buffer = production_handler()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def make_citizens(count: int) -> list[Citizen]:
    """``count`` verified citizens in Kabul with numbers and addresses nothing else contains."""
    now = timezone.now()
    rng = random.Random()
    tag = uuid.uuid4().hex[:8]
    tails = rng.sample(range(2_000_000, 9_999_999), count)
    citizens = Citizen.objects.bulk_create(
        [
            Citizen(
                full_name=f"Citizen {i}",
                phone=f"+44791{tail:07d}",
                phone_verified_at=now,
                email=f"zarghona.{tag}.{i}@mail-{tag}.example.org",
                email_verified_at=now,
                consent_at=now,
            )
            for i, tail in enumerate(tails)
        ]
    )
    Presence.objects.bulk_create(
        [Presence(citizen=c, country="AF", region="AF-KAB", lives_here=True) for c in citizens]
    )
    return citizens


def post_inbound(base_url: str, token: str, phone: str, body: str) -> None:
    sms_to_live_server(base_url, phone, body, "SM" + uuid.uuid4().hex, token=token)


def settled(alert: Alert) -> bool:
    alert.refresh_from_db()
    return alert.state == Alert.State.SENT and open_deliveries(alert) == 0


def test_the_leak_check_finds_a_contact_and_the_project_filter_masks_it(test_process_log, caplog) -> None:
    """The search below can fail: a contact logged raw is found, and the same line written
    through the project's handler is masked (the unit tests cover the forms)."""
    phones, emails = ["+447912345678"], ["zarghona.probe@mail.example.org"]
    raw = "sms to +447912345678 and email to zarghona.probe@mail.example.org failed"
    assert len(leaks(raw, phones, emails)) >= 3
    assert leaks("national 07912345678, spaced 44 7912 345678", phones, emails)
    assert leaks("at 2026-11-25 01:02:03,123 task 0a1b2c3d-4e5f-6789-abcd-ef0123456789 ok", phones, emails) == []
    with caplog.at_level(logging.INFO):
        logging.getLogger("alerts.probe").info("sms to %s and email to %s failed", phones[0], emails[0])
        try:
            raise ValueError(f"refused {phones[0]} / {emails[0]}")
        except ValueError:
            logging.getLogger("alerts.probe").exception("send failed")
    written = test_process_log.getvalue()
    assert "send failed" in written and "ValueError" in written
    assert leaks(written, phones, emails) == []


def test_a_live_alert_with_every_failure_path_logs_no_contact(
    celery_workers, provider_stub, live_server, afghanistan, author, approver, settings, test_process_log, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    citizens = make_citizens(PEOPLE)
    # One address SendGrid refuses (its personalization alone is blamed by the 400).
    refused_email = f"no,such.{uuid.uuid4().hex[:8]}@mail-refused.example.org"
    Citizen.objects.filter(pk=citizens[0].pk).update(email=refused_email)
    citizens[0].email = refused_email
    phones = [c.phone for c in citizens]
    emails = [c.email for c in citizens]
    unknown = "+447955" + f"{random.randrange(1_000_000, 9_999_999)}"[:6]
    phones_to_check = [*phones, unknown]

    for name, value in provider_stub.settings().items():
        setattr(settings, name, value)
    settings.PUBLIC_BASE_URL = live_server.url
    settings.TRUST_FORWARDED_HEADERS = False
    provider_stub.configure(callback_base=live_server.url, sent_after_ms=20, final_after_ms=60)
    provider_stub.fail_next(1, api="sms", twilio_code=21211, to=phones[1])  # invalid number
    provider_stub.fail_next(1, api="sms", twilio_code=21610, to=phones[2])  # opted out (STOP)
    provider_stub.fail_next(1, api="sms", http_status=503, to=phones[3])  # transient, retried
    provider_stub.fail_next(1, api="sms", lose_answer=True, to=phones[4])  # accepted, answer lost

    env, _sender = worker_env(provider_stub, SMS_RATE_PER_SECOND=100, LOG_LEVEL="DEBUG")
    env["PUBLIC_BASE_URL"] = live_server.url
    worker = celery_workers.start("no-contacts", env=env, beat=True, loglevel="DEBUG")
    alert = approve_live(author, approver, [afghanistan])
    wait_until(lambda: settled(alert), timeout=90, what="every delivery of the alert to be final")

    # The injected paths really ran.
    sms = {d.address: d for d in Delivery.objects.filter(alert=alert, channel=Delivery.Channel.SMS)}
    assert sms[phones[1]].state == Delivery.State.FAILED and sms[phones[1]].error_code == "21211"
    assert sms[phones[2]].error_code == "21610"
    assert sms[phones[3]].attempts >= 2
    refused = Delivery.objects.get(alert=alert, channel=Delivery.Channel.EMAIL, address=refused_email)
    assert refused.state == Delivery.State.FAILED
    statuses = [r["status"] for r in provider_stub.received("sms")]
    assert 503 in statuses and 400 in statuses
    assert any(r.get("answer_lost") for r in provider_stub.received("sms"))
    assert accepted_counts(provider_stub, "sms")[phones[4]] == 1  # looked up, not sent again
    # Status callbacks and events reached the live server and were applied.
    wait_until(
        lambda: Delivery.objects.filter(alert=alert, state=Delivery.State.DELIVERED).count() >= PEOPLE,
        timeout=30,
        what="delivery callbacks",
    )
    # Citizens answer: one registered number, one nobody registered.
    post_inbound(live_server.url, provider_stub.twilio_auth_token, phones[5], "SAFE")
    post_inbound(live_server.url, provider_stub.twilio_auth_token, unknown, "NEED help, call me")
    assert InboundMessage.objects.count() == 2
    # Two things that put contacts in the worker's own log lines, whatever the code logs:
    # a message task failing on an error naming the address (our line, its traceback and
    # Celery's "raised unexpected"), and a task no worker knows, whose body Celery logs.
    send_single_message.apply_async(
        ([{"channel": phones[6], "to": phones[6], "body": emails[6]}],), argsrepr="('probe',)", kwargsrepr="{}"
    )
    celery_app.send_task("alerts.tasks.no_such_task", args=(phones[7], emails[7]), queue=celery_workers.queue)
    wait_until(
        lambda: "raised unexpected" in worker.log() and "unregistered task" in worker.log(),
        timeout=20,
        what="the worker to log the failing and the unknown task",
    )
    worker.stop()

    worker_log = worker.log()
    assert "ready." in worker_log  # the worker's own output is in there
    assert "DEBUG/" in worker_log and "INFO/" in worker_log  # Celery's format, at DEBUG
    found = leaks(worker_log, phones_to_check, emails)
    assert found == [], "the worker's log gives contacts away:\n" + "\n".join(found[:20])
    process_log = test_process_log.getvalue()
    assert process_log  # the webhooks logged something
    found = leaks(process_log, phones_to_check, emails)
    assert found == [], "the test process's log gives contacts away:\n" + "\n".join(found[:20])
