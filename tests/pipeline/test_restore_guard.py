"""A database restored from a backup (or replaced) holds sending until an administrator
resumes it, and SMS sent after the backup are found at Twilio, not sent again
(alerts.services.restore_guard)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from alerts.console.permissions import Role
from alerts.models import AuditEntry, ChannelPause, DatabaseIdentity, Delivery
from alerts.notify import send_message
from alerts.services import restore_guard
from alerts.services.alerts import approve_alert, submit_for_approval
from alerts.services.fanout import send_delivery_chunk, sweep_deliveries
from tests.console.conftest import make_staff, sign_in
from tests.pipeline.conftest import accepted, make_alert, present, send_through_stub

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
D = Delivery.State
ROOT = Path(__file__).resolve().parents[2]
CHANGELIST = reverse("admin:alerts_channelpause_changelist")


@pytest.fixture
def stub(stub_providers, settings):  # type: ignore[no-untyped-def]
    return send_through_stub(stub_providers, settings, "7")


def restored_from_an_older_backup() -> None:
    """What the database reads like after a restore: the identity recorded in it is the
    one of the database the backup was taken from."""
    restore_guard.check_database()  # recorded while sending
    DatabaseIdentity.objects.filter(pk=1).update(database_oid=1, system_identifier="6000000000000000001")


def test_the_first_check_records_the_database_and_holds_nothing():
    assert restore_guard.check_database() is False
    recorded = DatabaseIdentity.objects.get()
    assert (recorded.system_identifier, recorded.timeline, recorded.database_oid) == restore_guard.database_identity()
    assert restore_guard.check_database() is False
    assert not ChannelPause.objects.exists()


def test_a_changed_database_holds_both_channels_once_and_says_why(caplog):
    restored_from_an_older_backup()

    assert restore_guard.check_database() is True
    assert DatabaseIdentity.objects.get().look_up_alerts == []  # no alert was open
    pauses = {p.channel: p for p in ChannelPause.objects.all()}
    assert set(pauses) == {"sms", "email"}
    for pause in pauses.values():
        assert pause.kind == ChannelPause.Kind.RESTORED and pause.code == "restored"
        assert pause.until > timezone.now() + timezone.timedelta(days=365)  # no timer ends it
        assert "cluster 6000000000000000001 ->" in pause.reason and "database 1 ->" in pause.reason
    entry = AuditEntry.objects.get(action="database-changed")
    assert entry.before["identity"].startswith("cluster 6000000000000000001")
    assert "sending held" in caplog.text
    # The new identity is recorded: the change is acted on once.
    assert restore_guard.check_database() is False
    assert AuditEntry.objects.filter(action="database-changed").count() == 1


@pytest.mark.parametrize("hold", [True, False])
def test_a_new_timeline_alone_holds_unless_told_replicas_are_never_behind(settings, hold):
    settings.HOLD_SENDING_ON_NEW_TIMELINE = hold
    restore_guard.check_database()
    DatabaseIdentity.objects.filter(pk=1).update(timeline=0)  # the timeline before a failover

    assert restore_guard.check_database() is hold
    assert ChannelPause.objects.filter(kind="restored").count() == (2 if hold else 0)
    assert DatabaseIdentity.objects.get().timeline == restore_guard.database_identity()[1]  # recorded either way


def _sent_then_restored(stub, author, approver, area, callbacks):  # type: ignore[no-untyped-def]
    """An alert sent to three people by SMS and email; then the database restored from a
    backup taken before it was sent: its deliveries read QUEUED again."""
    people = [present(full_name=f"Person {i}") for i in range(3)]
    alert = submit_for_approval(make_alert(author, areas=[area]), by=author)
    with callbacks(execute=True):
        approve_alert(alert, by=approver)
    deliveries = Delivery.objects.filter(alert=alert)
    assert set(deliveries.values_list("state", flat=True)) == {D.SENT}
    sids = dict(deliveries.filter(channel="sms").values_list("address", "provider_message_id"))
    restored_from_an_older_backup()
    deliveries.update(state=D.QUEUED, provider_message_id="", sent_at=None, attempts=0, enqueued_at=None)
    alert.state = alert.State.SENDING
    alert.finished_at = None
    alert.save(update_fields=["state", "finished_at"])
    return alert, people, sids


def test_after_a_restore_nothing_goes_until_resumed_then_sms_are_found_not_sent_again(
    stub, afghanistan, author, approver, django_capture_on_commit_callbacks
):
    alert, people, sids = _sent_then_restored(stub, author, approver, afghanistan, django_capture_on_commit_callbacks)
    sms = Delivery.objects.filter(alert=alert, channel="sms")

    with django_capture_on_commit_callbacks(execute=True):
        report = sweep_deliveries()  # the first sweep after the restore finds the change
    assert report.requeued == 0
    assert set(ChannelPause.objects.values_list("kind", flat=True)) == {"restored"}
    assert set(sms.values_list("state", "attempts")) == {(D.QUEUED, 0)}  # as a fan-out would create them afresh
    assert DatabaseIdentity.objects.get().look_up_alerts == [alert.pk]
    held = send_delivery_chunk(alert.pk, "sms", list(sms.values_list("pk", flat=True)))  # a task queued before
    assert held.claimed == 0 and held.paused
    assert Counter(accepted(stub, "sms")).total() == 3  # nothing more reached the provider

    for channel in ("sms", "email"):
        assert restore_guard.is_restore_hold(ChannelPause.objects.get(channel=channel))
        from alerts.services.pauses import try_channel_again

        assert try_channel_again(channel) == 0  # an administrator resumes: the hold is gone
    assert not ChannelPause.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_deliveries().requeued == 6
    # Every SMS was found at Twilio and recorded with its first SID: none went twice.
    got = Counter(accepted(stub, "sms"))
    assert sorted(got) == sorted(p.phone for p in people) and set(got.values()) == {1}
    assert dict(sms.values_list("address", "provider_message_id")) == sids
    assert set(sms.values_list("state", flat=True)) == {D.SENT}
    # Email cannot be looked up: resuming sends it again (the runbook says to abort first
    # if that must not happen).
    assert Counter(accepted(stub, "email")) == Counter({p.email: 2 for p in people})


def test_a_providers_refusal_or_accepted_message_meanwhile_does_not_end_the_hold():
    from alerts.channels.base import ChannelError
    from alerts.services import pauses

    restored_from_an_older_backup()
    restore_guard.check_database()
    for error in (
        ChannelError("twilio HTTP 503: server error", permanent=False, code="20503", outage=True),
        ChannelError("twilio 20003: credentials refused", permanent=False, code="20003", account=True),
    ):
        assert pauses.pause_channel("sms", error).kind == ChannelPause.Kind.RESTORED
    assert pauses.resume_channel("sms") is False  # a code accepted meanwhile
    held = ChannelPause.objects.get(channel="sms")
    assert held.kind == ChannelPause.Kind.RESTORED and held.until > timezone.now() + timezone.timedelta(days=365)


def test_codes_and_links_are_not_held_by_it(stub):
    restored_from_an_older_backup()
    restore_guard.check_database()
    result = send_message({"channel": "sms", "to": "+93700123456", "body": "Your code is 123456", "reference": "t"})
    assert result.provider_message_id
    assert ChannelPause.objects.filter(kind="restored").count() == 2  # and it is still held


def test_every_console_page_says_sending_is_held_and_what_to_do(db):
    restored_from_an_older_backup()
    restore_guard.check_database()
    client = sign_in(Client(), make_staff(Role.APPROVER, username="duty.officer"))
    body = client.get(reverse("console:situation")).content.decode()
    assert body.count('data-channel="sms"') == 1 and body.count('data-channel="email"') == 1
    assert "the database is not the one sending was recorded in" in body
    assert "Admin, Paused channels, Resume now" in body


def test_an_administrator_resumes_it_in_the_admin_and_it_is_audited(db):
    user = make_staff(Role.ADMINISTRATOR, username="ada.admin")
    user.is_superuser = True
    user.save(update_fields=["is_superuser"])
    client = sign_in(Client(), user)
    restored_from_an_older_backup()
    restore_guard.check_database()

    ids = list(ChannelPause.objects.values_list("pk", flat=True))
    response = client.post(CHANGELIST, {"action": "try_again_now", "_selected_action": ids}, follow=True)
    assert "Sending resumed on 2 channels held after the database changed" in response.content.decode()
    assert not ChannelPause.objects.exists()
    entries = AuditEntry.objects.filter(action="resume_channel_after_database_change")
    assert sorted(e.before["kind"] for e in entries) == ["restored", "restored"]
    assert {e.actor_username for e in entries} == {"ada.admin"}


# --- a real restore: pg_dump of one database into another -------------------------------


def _server() -> str:
    db = django_settings.DATABASES["default"]
    return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"


def _django(url: str, code: str) -> str:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))},
        "DJANGO_SETTINGS_MODULE": "embassy.settings.local",
        "DATABASE_URL": url,
    }
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


@pytest.fixture
def two_databases() -> Iterator[tuple[str, str]]:
    names = [f"restore_guard_{uuid.uuid4().hex[:8]}_{side}" for side in ("live", "restored")]
    with psycopg.connect(f"{_server()}/postgres", autocommit=True) as conn:
        for name in names:
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{_server()}/{names[0]}", f"{_server()}/{names[1]}"
    finally:
        with psycopg.connect(f"{_server()}/postgres", autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


CHECK = (
    "from alerts.services.restore_guard import check_database\n"
    "from alerts.models import ChannelPause\n"
    "print(check_database(), sorted(ChannelPause.objects.values_list('channel', 'kind')))"
)


@pytest.mark.django_db(transaction=True)
def test_a_dump_restored_into_a_new_database_is_recognised(two_databases):
    live, restored = two_databases
    _django(live, "from django.core.management import call_command; call_command('migrate', verbosity=0)")
    assert _django(live, CHECK) == "False []"  # recorded while sending

    dump = subprocess.run(["pg_dump", "--no-owner", live], capture_output=True, check=True, timeout=300).stdout
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", restored], input=dump, capture_output=True, check=True)

    assert _django(restored, CHECK) == "True [('email', 'restored'), ('sms', 'restored')]"
    assert _django(restored, CHECK) == "False [('email', 'restored'), ('sms', 'restored')]"  # once
    assert _django(live, CHECK) == "False []"  # the original goes on as it was
