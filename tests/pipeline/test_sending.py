"""Fan-out and sending through the real SDKs to the loopback stub, tasks run in-process."""

from __future__ import annotations

import datetime
from collections import Counter

import pytest
from django.utils import timezone, translation

from alerts.levels import level_name
from alerts.models import Alert, Delivery
from alerts.services import fanout
from alerts.services.alerts import abort_alert, approve_alert, submit_for_approval
from alerts.services.fanout import send_delivery_chunk, start_fan_out, sweep_deliveries
from alerts.services.progress import alert_progress
from registrations.models import Citizen
from tests.factories import StaffTestRecipientFactory
from tests.pipeline.conftest import accepted, make_alert, present, send_through_stub

pytestmark = pytest.mark.django_db  # the rate limiter is in-process without Redis
D = Delivery.State


@pytest.fixture
def sending(stub_providers, settings):
    return send_through_stub(stub_providers, settings, "5")


def approved(author, approver, areas, callbacks, *, execute=True, **fields) -> Alert:
    alert = submit_for_approval(make_alert(author, areas=areas, **fields), by=author)
    with callbacks(execute=execute):
        approve_alert(alert, by=approver)
    alert.refresh_from_db()
    return alert


def test_an_alert_reaches_every_address_once_per_channel(
    sending, afghanistan, author, approver, django_capture_on_commit_callbacks
) -> None:
    people = [present(full_name=f"Person {i}") for i in range(5)]
    alert = approved(author, approver, [afghanistan], django_capture_on_commit_callbacks)
    assert sorted(accepted(sending, "sms")) == sorted(p.phone for p in people)
    assert sorted(accepted(sending, "email")) == sorted(p.email for p in people)
    assert len(sending.received("email")) == 1  # one provider batch for all five emails
    sms = {r["to"][0]: r["body"] for r in sending.received("sms")}
    assert sms[people[0].phone].startswith("Person 0, leave Afghanistan now. Reply SAFE")
    batch = sending.received("email")[0]["json"]
    first = batch["personalizations"][0]
    assert first["substitutions"]["[%name%]"].startswith("Person")
    assert "List-Unsubscribe" in first["headers"]
    assert first["custom_args"]
    alert.refresh_from_db()
    assert alert.state == Alert.State.SENT and alert.finished_at is not None
    assert set(Delivery.objects.filter(alert=alert).values_list("state", flat=True)) == {D.SENT}


def test_the_same_address_twice_gets_one_message(
    sending, afghanistan, author, approver, django_capture_on_commit_callbacks
) -> None:
    first = present(phone_only=True)
    present(unverified=True, email="", phone=first.phone)  # an unverified twin, same number
    approved(author, approver, [afghanistan], django_capture_on_commit_callbacks, include_unverified=False)
    alert = submit_for_approval(make_alert(author, areas=[afghanistan]), by=author)
    with django_capture_on_commit_callbacks(execute=True):
        approve_alert(alert, by=approver, include_unverified=True)
    assert Counter(accepted(sending, "sms"))[first.phone] == 2  # once per alert, two alerts
    assert Delivery.objects.filter(alert=alert).count() == 1


def test_a_task_that_runs_twice_sends_once(
    sending, afghanistan, author, approver, django_capture_on_commit_callbacks
) -> None:
    present()
    present()
    alert = approved(author, approver, [afghanistan], django_capture_on_commit_callbacks, execute=False)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        start_fan_out(alert.pk)
    assert start_fan_out(alert.pk).started is False  # a second fan-out does nothing
    assert len(queued) == 2  # one send task per channel
    ids = list(Delivery.objects.filter(alert=alert, channel="sms").values_list("pk", flat=True))
    assert send_delivery_chunk(alert.pk, "sms", ids).sent == 2
    assert send_delivery_chunk(alert.pk, "sms", ids).claimed == 0  # the broker delivered it again
    assert len(accepted(sending, "sms")) == 2


def test_a_claimed_delivery_is_not_claimed_again(
    sending, afghanistan, author, approver, django_capture_on_commit_callbacks
) -> None:
    present()
    alert = approved(author, approver, [afghanistan], django_capture_on_commit_callbacks, execute=False)
    with django_capture_on_commit_callbacks(execute=False):
        start_fan_out(alert.pk)
    delivery = Delivery.objects.get(alert=alert, channel="sms")
    Delivery.objects.filter(pk=delivery.pk).update(state=D.SENDING, claimed_at=timezone.now())
    assert send_delivery_chunk(alert.pk, "sms", [delivery.pk]).claimed == 0
    assert accepted(sending, "sms") == []


def test_an_aborted_alert_sends_nothing_more(
    sending, afghanistan, author, approver, django_capture_on_commit_callbacks
) -> None:
    for _ in range(4):
        present()
    alert = approved(author, approver, [afghanistan], django_capture_on_commit_callbacks, execute=False)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        start_fan_out(alert.pk)
    assert abort_alert(alert, by=approver) == 8
    for callback in queued:  # the send tasks run after the abort
        callback()
    assert sending.received() == []
    assert set(Delivery.objects.filter(alert=alert).values_list("state", "error_reason")) == {(D.SKIPPED, "aborted")}
    assert alert_progress(alert)["totals"]["skipped"] == 8


def test_transient_failures_are_retried_with_backoff_then_sent(
    sending, afghanistan, author, approver, settings, django_capture_on_commit_callbacks
) -> None:
    settings.DELIVERY_RETRY_BASE_SECONDS = 10
    person = present(phone_only=True)
    sending.fail_next(2, api="sms", http_status=503)
    alert = approved(author, approver, [afghanistan], django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get(alert=alert)
    assert delivery.state == D.RETRY and delivery.attempts == 1
    delay = (delivery.next_attempt_at - delivery.updated_at).total_seconds()
    assert 5 <= delay <= 15  # base 10 s with jitter
    assert sweep_deliveries().requeued == 0  # not due yet

    def time_passes() -> None:
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - datetime.timedelta(seconds=1))

    time_passes()
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_deliveries().requeued == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (D.RETRY, 2)
    time_passes()
    with django_capture_on_commit_callbacks(execute=True):
        sweep_deliveries()
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (D.SENT, 3)
    assert accepted(sending, "sms") == [person.phone]


def test_retries_end_after_the_limit(
    sending, afghanistan, author, approver, settings, django_capture_on_commit_callbacks
) -> None:
    settings.DELIVERY_MAX_ATTEMPTS = 1
    present(phone_only=True)
    sending.fail_next(1, api="sms", http_status=503)
    alert = approved(author, approver, [afghanistan], django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get(alert=alert)
    assert delivery.state == D.FAILED and "gave up after 1 attempts" in delivery.error_reason
    assert delivery.error_code == "attempts"  # what the progress page counts as given up


def test_21610_fails_the_delivery_and_opts_the_citizen_out(
    sending, afghanistan, author, approver, django_capture_on_commit_callbacks
) -> None:
    person = present(phone_only=True)
    sending.fail_next(1, api="sms", twilio_code=21610)
    alert = approved(author, approver, [afghanistan], django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get(alert=alert)
    assert (delivery.state, delivery.error_code) == (D.FAILED, "21610")
    assert "opted out" in delivery.error_reason
    assert Citizen.objects.get(pk=person.pk).phone_opted_out_at is not None


def test_a_recipient_who_opts_out_after_the_fan_out_is_skipped(
    sending, afghanistan, author, approver, django_capture_on_commit_callbacks
) -> None:
    person = present(phone_only=True)
    alert = approved(author, approver, [afghanistan], django_capture_on_commit_callbacks, execute=False)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        start_fan_out(alert.pk)
    Citizen.objects.filter(pk=person.pk).update(phone_opted_out_at=timezone.now())
    for callback in queued:
        callback()
    assert Delivery.objects.get(alert=alert).state == D.SKIPPED
    assert accepted(sending, "sms") == []


def fanned_out(author, approver, areas, callbacks, **fields) -> Alert:
    """An approved alert whose deliveries exist, its send tasks not run."""
    alert = approved(author, approver, areas, callbacks, execute=False, **fields)
    with callbacks(execute=False):
        start_fan_out(alert.pk)
    return alert


def left_sending(delivery: Delivery, settings) -> None:
    """As a worker killed between claiming ``delivery`` and recording the answer leaves it."""
    long_ago = timezone.now() - datetime.timedelta(seconds=settings.DELIVERY_SENDING_STALE_SECONDS + 5)
    Delivery.objects.filter(pk=delivery.pk).update(state=D.SENDING, claimed_at=long_ago, attempts=1)


def test_a_stale_sms_the_provider_took_is_recorded_sent_not_sent_again(
    sending, afghanistan, author, approver, settings, django_capture_on_commit_callbacks
) -> None:
    from alerts.channels import get_channel
    from alerts.services.messages import AlertRenderer

    present(phone_only=True)
    alert = fanned_out(author, approver, [afghanistan], django_capture_on_commit_callbacks)
    delivery = Delivery.objects.select_related("citizen").get(alert=alert)
    # The dead worker's request had reached the provider (a fresh rendering: new link signatures).
    sid = get_channel("sms").send(AlertRenderer(alert).render(delivery)).provider_message_id
    left_sending(delivery, settings)
    with django_capture_on_commit_callbacks(execute=True):
        report = sweep_deliveries()
    assert report.reconciled_sent == 1 and report.requeued == 0
    delivery.refresh_from_db()
    assert (delivery.state, delivery.provider_message_id) == (D.SENT, sid)
    assert len(accepted(sending, "sms")) == 1
    alert.refresh_from_db()
    assert alert.state == Alert.State.SENT


def test_a_stale_sms_the_provider_never_saw_is_sent_once(
    sending, afghanistan, author, approver, settings, django_capture_on_commit_callbacks
) -> None:
    person = present(phone_only=True)
    alert = fanned_out(author, approver, [afghanistan], django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get(alert=alert)
    left_sending(delivery, settings)
    with django_capture_on_commit_callbacks(execute=True):
        report = sweep_deliveries()
    assert report.reconciled_retry == 1
    with django_capture_on_commit_callbacks(execute=True):
        sweep_deliveries()  # the retry is due at once: queued and sent
    delivery.refresh_from_db()
    assert delivery.state == D.SENT
    assert accepted(sending, "sms") == [person.phone]


def test_a_stale_email_ends_outcome_unknown_and_is_never_sent_again(
    sending, afghanistan, author, approver, settings, django_capture_on_commit_callbacks
) -> None:
    present(email_only=True)
    alert = fanned_out(author, approver, [afghanistan], django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get(alert=alert)
    left_sending(delivery, settings)
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_deliveries().outcome_unknown == 1
    with django_capture_on_commit_callbacks(execute=True):
        sweep_deliveries()
    delivery.refresh_from_db()
    assert (delivery.state, delivery.error_code) == (D.FAILED, "unknown")
    assert "outcome unknown" in delivery.error_reason
    assert sending.received() == []
    alert.refresh_from_db()
    assert alert.state == Alert.State.SENT  # every delivery final


def test_an_sms_whose_answer_timed_out_is_looked_up_before_any_resend(
    sending, afghanistan, author, approver, settings, django_capture_on_commit_callbacks
) -> None:
    settings.PROVIDER_TIMEOUT_SECONDS = 0.3
    person = present(phone_only=True)
    sending.configure(latency_ms=800)  # Twilio takes the message but answers too late
    alert = approved(author, approver, [afghanistan], django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get(alert=alert)
    assert (delivery.state, delivery.error_code) == (D.RETRY, "timeout")
    sending.configure(latency_ms=0)
    sending.state.wait_for(lambda state: len(accepted(sending, "sms")) == 1, 5)
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        sweep_deliveries()
    delivery.refresh_from_db()
    assert delivery.state == D.SENT and delivery.provider_message_id.startswith("SM")
    assert accepted(sending, "sms") == [person.phone]  # found at the provider, not sent twice


def test_test_alerts_go_to_the_staff_list_marked_test(
    sending, afghanistan, author, django_capture_on_commit_callbacks
) -> None:
    present()
    tester = StaffTestRecipientFactory(name="Tess")
    alert = submit_for_approval(make_alert(author, areas=[afghanistan], live=False), by=author)
    with django_capture_on_commit_callbacks(execute=True):
        approve_alert(alert, by=author)
    assert accepted(sending, "sms") == [tester.phone]
    assert sending.received("sms")[0]["body"].startswith("TEST: Tess, leave Afghanistan now.")
    assert sending.received("email")[0]["json"]["subject"].startswith("TEST: ")


def test_texts_follow_the_recipients_language_with_fallback(
    sending, afghanistan, author, approver, django_capture_on_commit_callbacks
) -> None:
    dari = present(phone_only=True, preferred_language="fa")
    french = present(phone_only=True, preferred_language="fr")
    texts = {
        "en": {"sms_text": "EN {name}", "email_subject": "s", "email_body": "b"},
        "fa": {"sms_text": "FA {name}", "email_subject": "s", "email_body": "b"},
    }
    approved(author, approver, [afghanistan], django_capture_on_commit_callbacks, texts=texts)
    bodies = {r["to"][0]: r["body"] for r in sending.received("sms")}
    assert bodies[dari.phone] == f"FA {dari.full_name}"
    assert bodies[french.phone] == f"EN {french.full_name}"


def test_area_names_and_level_words_follow_the_language_of_each_text(
    sending, afghanistan, author, approver, django_capture_on_commit_callbacks
) -> None:
    """A Dari text names the area in Dari and the level in Dari words; the English
    fallback (also what a French reader gets) in English, whatever the worker's language."""
    afghanistan.local_names = {"fa": "افغانستان"}
    afghanistan.save()
    dari = present(preferred_language="fa")
    french = present(phone_only=True, preferred_language="fr")
    texts = {
        "en": {"sms_text": "{area}: {level_name}", "email_subject": "{area}", "email_body": "{level_name}"},
        "fa": {"sms_text": "{area}: {level_name}", "email_subject": "{area}", "email_body": "{level_name}"},
    }
    approved(author, approver, [afghanistan], django_capture_on_commit_callbacks, texts=texts, advisory_level=4)
    with translation.override("fa"):
        words_fa = level_name(4)
    words_en = level_name(4)
    assert words_fa != words_en  # the level's words have a Dari translation
    bodies = {r["to"][0]: r["body"] for r in sending.received("sms")}
    assert bodies[dari.phone] == f"افغانستان: {words_fa}"
    assert bodies[french.phone] == f"Afghanistan: {words_en}"
    (email,) = [r["json"] for r in sending.received("email") if r["json"]["subject"] == "افغانستان"]
    assert words_fa in email["content"][0]["value"]


def test_progress_counts_by_channel_and_state(
    afghanistan, author, approver, django_capture_on_commit_callbacks
) -> None:
    present()
    present(phone_only=True)
    alert = approved(author, approver, [afghanistan], django_capture_on_commit_callbacks, execute=False)
    with django_capture_on_commit_callbacks(execute=False):
        start_fan_out(alert.pk)
    Delivery.objects.filter(alert=alert, channel="email").update(state=D.DELIVERED)
    progress = alert_progress(alert.pk)
    assert progress["by_channel"]["sms"]["queued"] == 2
    assert progress["by_channel"]["email"]["delivered"] == 1
    assert progress["total"] == 3 and progress["done"] is False
    assert progress["state"] == Alert.State.SENDING


def test_the_ready_cancellation_reaches_those_who_got_the_original(
    sending, afghanistan, kabul, author, approver, django_capture_on_commit_callbacks
) -> None:
    got_it = present("AF-KAB", phone_only=True)
    original = approved(author, approver, [kabul], django_capture_on_commit_callbacks)
    # got_it moves away from the area; the cancellation still reaches them.
    got_it.presences.update(region="AF-HER")
    newcomer = present("AF-KAB", phone_only=True)
    cancellation = original.corrections.get(msg_type=Alert.MsgType.CANCEL)
    submit_for_approval(cancellation, by=approver)
    with django_capture_on_commit_callbacks(execute=True):
        approve_alert(cancellation, by=author)
    sent = Counter(accepted(sending, "sms"))
    assert sent[got_it.phone] == 2 and sent[newcomer.phone] == 1
    assert sending.received("sms")[-1]["body"].startswith("CANCELLED")


def test_the_fan_out_leaves_out_opted_out_and_unverified_addresses_in_every_chunk(
    sending, afghanistan, author, approver, settings, django_capture_on_commit_callbacks
) -> None:
    settings.ALERT_FANOUT_CHUNK = 2  # several chunks, and a first chunk smaller than the rest
    reached = [present(full_name=f"Person {i}") for i in range(5)]
    opted_out = present(phone_opted_out_at=timezone.now(), email_opted_out_at=timezone.now())
    unverified = present(unverified=True)
    alert = approved(author, approver, [afghanistan], django_capture_on_commit_callbacks)
    deliveries = set(Delivery.objects.filter(alert=alert).values_list("channel", "address"))
    assert deliveries == {("sms", p.phone) for p in reached} | {("email", p.email.lower()) for p in reached}
    assert not {opted_out.phone, opted_out.email, unverified.phone, unverified.email} & set(accepted(sending, "sms"))
    alert.refresh_from_db()
    assert alert.state == Alert.State.SENT and alert.fanout_cursor == max(p.pk for p in reached)


@pytest.fixture
def six_in_chunks_of_two(settings, monkeypatch) -> list[Citizen]:
    """Six people, and a fan-out reading two citizens per chunk, the first chunk too."""
    monkeypatch.setattr(fanout, "FIRST_CHUNK", 2)
    settings.ALERT_FANOUT_CHUNK = 2
    return [present(full_name=f"Person {i}") for i in range(6)]


def test_beyond_the_first_chunk_email_goes_to_everyone_before_any_more_sms(
    sending, afghanistan, author, approver, six_in_chunks_of_two, django_capture_on_commit_callbacks
) -> None:
    """Phases: the first chunk on both channels, then email to everyone, then SMS."""
    people = six_in_chunks_of_two
    alert = approved(author, approver, [afghanistan], django_capture_on_commit_callbacks)
    rows = list(Delivery.objects.filter(alert=alert).order_by("pk").values_list("channel", "citizen_id"))
    assert set(rows[:4]) == {(ch, p.pk) for ch in ("sms", "email") for p in people[:2]}
    assert rows[4:] == [("email", p.pk) for p in people[2:]] + [("sms", p.pk) for p in people[2:]]
    assert sorted(accepted(sending, "sms")) == sorted(p.phone for p in people)
    assert sorted(accepted(sending, "email")) == sorted(p.email for p in people)
    alert.refresh_from_db()
    assert alert.state == Alert.State.SENT and alert.fanout_phase == 2


def test_a_fan_out_cut_short_in_its_email_phase_resumes_there(
    sending, afghanistan, author, approver, six_in_chunks_of_two, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    people = six_in_chunks_of_two
    alert = approved(author, approver, [afghanistan], django_capture_on_commit_callbacks, execute=False)
    real_queue = fanout.queue_send_tasks
    calls: list[str] = []

    def dies_on_the_fourth_chunk_queued(alert_id: int, channel: str, ids: list[int]) -> int:
        calls.append(channel)
        if len(calls) == 4:  # first chunk: email + sms; email: people 2-3, then 4-5
            raise RuntimeError("worker killed")
        return real_queue(alert_id, channel, ids)

    monkeypatch.setattr(fanout, "queue_send_tasks", dies_on_the_fourth_chunk_queued)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        start_fan_out(alert.pk)
    alert.refresh_from_db()
    assert (alert.fanout_phase, alert.fanout_cursor) == (1, people[3].pk)  # the last chunk rolled back
    assert Delivery.objects.filter(alert=alert, channel="email").count() == 4
    monkeypatch.setattr(fanout, "queue_send_tasks", real_queue)
    Alert.objects.filter(pk=alert.pk).update(fanout_heartbeat_at=timezone.now() - datetime.timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert start_fan_out(alert.pk).finished
    assert sorted(accepted(sending, "sms")) == sorted(p.phone for p in people)
    assert sorted(accepted(sending, "email")) == sorted(p.email for p in people)
    alert.refresh_from_db()
    assert alert.state == Alert.State.SENT and alert.fanout_phase == 2


def test_a_single_channel_alert_has_one_phase() -> None:
    assert fanout.fan_out_phases(["sms"]) == [(("sms",), None)]
    assert fanout.fan_out_phases(["sms", "email"])[1:] == [(("email",), None), (("sms",), None)]


def test_links_are_made_only_for_texts_that_show_them(
    sending, afghanistan, author, approver, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    from django.conf import settings as django_settings

    from alerts.services import links

    made = Counter[str]()

    def counting(name):
        real = getattr(links.LinkMaker, name)

        def make(self, *args, **kwargs):
            made[name] += 1
            return real(self, *args, **kwargs)

        return make

    for name in ("check_in", "unsubscribe"):
        monkeypatch.setattr(links.LinkMaker, name, counting(name))
    present(full_name="Linked")
    plain = {"sms_text": "Leave now, {name}.", "email_subject": "Leave", "email_body": "Leave now, {name}."}
    approved(author, approver, [afghanistan], django_capture_on_commit_callbacks, texts={"en": plain})
    # The SMS shows no link: none is made for it. The email's unsubscribe link is made
    # for its List-Unsubscribe header even when the body does not show it.
    assert made == {"unsubscribe": 1}
    personalization = sending.received("email")[0]["json"]["personalizations"][0]
    assert personalization["substitutions"] == {"[%name%]": "Linked"}
    assert personalization["headers"]["List-Unsubscribe"].startswith("<http")

    made.clear()
    sending.reset()
    linked = {
        "sms_text": "Answer: {checkin_link}",
        "email_subject": "Leave",
        "email_body": "{checkin_link} or stop: {unsubscribe_link}",
    }
    approved(author, approver, [afghanistan], django_capture_on_commit_callbacks, texts={"en": linked})
    assert made == {"check_in": 2, "unsubscribe": 1}
    (sms,) = sending.received("sms")
    assert sms["body"].startswith(f"Answer: {django_settings.PUBLIC_BASE_URL}/")
    substitutions = sending.received("email")[0]["json"]["personalizations"][0]["substitutions"]
    assert set(substitutions) == {"[%checkin_link%]", "[%unsubscribe_link%]"}
