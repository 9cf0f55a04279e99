"""A registration's code and link leave in one task (one broker publish), and each is still
sent, dropped or retried on its own."""

from __future__ import annotations

import json
import re
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alerts import tasks
from alerts.models import OutboxMessage
from alerts.notify import message_payload, queue_messages
from alerts.tasks import send_single_message
from registrations import services
from registrations.models import Citizen, Verification
from tests.registrations.conftest import last_code, last_link, valid_form

pytestmark = pytest.mark.django_db

PHONE = "+93701234567"
EMAIL = "sara@example.org"


@pytest.fixture
def publishes():
    """Every task publish of send_single_message (still run: tests run tasks in-process)."""
    with mock.patch.object(send_single_message, "apply_async", wraps=send_single_message.apply_async) as spy:
        yield spy


def test_a_registration_publishes_one_task_carrying_the_code_and_the_link(register, publishes):
    register(valid_form())

    assert publishes.call_count == 1
    (payloads,) = publishes.call_args.args[0]
    assert [(p["channel"], p["to"]) for p in payloads] == [("sms", PHONE), ("email", EMAIL)]
    sms, email = Verification.objects.order_by("channel")[1], Verification.objects.order_by("channel")[0]
    assert [p["reference"] for p in payloads] == [f"verification:{sms.pk}", f"verification:{email.pk}"]
    # Both still reach the person, each once.
    assert OutboxMessage.objects.filter(channel="sms", to=PHONE).count() == 1
    assert OutboxMessage.objects.filter(channel="email", to=EMAIL).count() == 1


def test_the_code_and_the_link_of_one_task_both_verify(client, register, publishes):
    pending = register(valid_form())["Location"]
    assert client.post(pending, {"code": last_code(PHONE), "action": "verify"}).status_code == 302
    assert client.get(last_link(EMAIL)).status_code == 302
    citizen = Citizen.objects.get()
    assert citizen.phone_verified_at and citizen.email_verified_at


def test_the_task_names_only_references_not_addresses_or_texts(register, publishes):
    register(valid_form())
    shown = publishes.call_args.kwargs["argsrepr"]
    assert "verification:" in shown
    assert PHONE not in shown and EMAIL not in shown and "code is" not in shown


def test_a_registration_with_one_contact_publishes_one_message_as_before(register, publishes):
    register(valid_form(**{"contact-email": ""}))
    assert publishes.call_count == 1
    (payload,) = publishes.call_args.args[0]
    assert isinstance(payload, dict) and payload["channel"] == "sms"
    assert OutboxMessage.objects.filter(channel="sms", to=PHONE).count() == 1
    assert not OutboxMessage.objects.filter(channel="email").exists()


def test_a_rolled_back_registration_publishes_nothing(form_data, publishes, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        with mock.patch.object(services, "_verification_message", side_effect=RuntimeError("boom")):
            services.register_citizen(
                {"full_name": "Sara", "phone": PHONE, "email": EMAIL, "preferred_language": "en"},
                {"country": "AF", "lives_here": True},
                [],
            )
    assert publishes.call_count == 0
    assert not Citizen.objects.exists() and not Verification.objects.exists()


def test_a_changed_phone_and_email_are_confirmed_in_one_task(register, publishes, django_capture_on_commit_callbacks):
    register(valid_form())
    citizen = Citizen.objects.get()
    publishes.reset_mock()
    data = {
        "full_name": citizen.full_name,
        "phone": "+93701234568",
        "email": "new@example.org",
        "preferred_language": "en",
    }
    with django_capture_on_commit_callbacks(execute=True):
        token = services.update_contact_details(citizen, data)
    assert token
    assert publishes.call_count == 1
    (payloads,) = publishes.call_args.args[0]
    assert [(p["channel"], p["to"]) for p in payloads] == [("sms", "+93701234568"), ("email", "new@example.org")]
    pending = services.load_pending(token)
    assert pending.sms.address == "+93701234568" and pending.email.address == "new@example.org"


def test_registering_writes_the_citizen_presence_and_codes_in_few_statements():
    with CaptureQueriesContext(connection) as queries:
        services.register_citizen(
            {"full_name": "Sara", "phone": PHONE, "email": EMAIL, "preferred_language": "en"},
            {"country": "AF", "region": "AF-KAB", "city": "Kabul", "lives_here": True},
            [{"full_name": "Ali", "relationship": "partner", "age_group": "adult"}],
        )
    statements = [q["sql"].split()[0] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    # citizen, presence, household, both verifications in one INSERT, the code's hash:
    # nothing to expire or delete for a citizen created in the same transaction.
    if connection.features.can_return_rows_from_bulk_insert:
        assert statements == ["INSERT", "INSERT", "INSERT", "INSERT", "UPDATE"]
    citizen = Citizen.objects.get()
    assert citizen.people_count == 2
    sms = Verification.objects.get(channel="sms")
    assert len(sms.code_hash) == 64 and sms.expires_at > sms.created_at
    assert Verification.objects.get(channel="email").code_hash == ""


def test_a_new_code_still_expires_the_old_one(client, register, publishes, django_capture_on_commit_callbacks):
    pending = register(valid_form(**{"contact-email": ""}))["Location"]
    old = last_code(PHONE)
    with django_capture_on_commit_callbacks(execute=True):
        pending = client.post(pending, {"action": "resend"})["Location"]
    assert client.post(pending, {"code": old, "action": "verify"}).status_code == 400
    assert client.post(pending, {"code": last_code(PHONE), "action": "verify"}).status_code == 302


# --- the task ------------------------------------------------------------------------


def _two_messages() -> list[dict]:
    return [
        message_payload("sms", PHONE, "Your code is 123456.", reference="verification:1"),
        message_payload("email", EMAIL, "Open the link.", subject="Confirm", reference="verification:2"),
    ]


def test_a_transient_failure_retries_only_the_message_that_failed(stub_providers):
    stub_providers.fail_next(1, api="sms", twilio_code=20429, http_status=429)
    result = send_single_message.apply(args=(_two_messages(),), throw=False)

    assert [r["status"] for r in stub_providers.received("sms")] == [429, 201]
    assert len(stub_providers.received("email")) == 1  # not sent again by the retry
    assert result.successful()


def test_a_permanent_failure_drops_one_message_and_the_other_is_sent(stub_providers):
    stub_providers.fail_next(1, api="sms", twilio_code=21211, http_status=400)  # 21211: invalid number
    result = send_single_message.apply(args=(_two_messages(),))

    assert [r["status"] for r in stub_providers.received("sms")] == [400]
    (email,) = stub_providers.received("email")
    payload = email["json"] if email["json"] is not None else json.loads(email["body"])
    assert EMAIL in json.dumps(payload)
    sms_id, email_id = result.get()
    assert sms_id is None and email_id


def test_an_unexpected_error_in_one_message_does_not_keep_the_other_from_being_sent(stub_providers):
    original = tasks.send_message

    def broken_sms(payload: dict):
        if payload["channel"] == "sms":
            raise ValueError("a bug")
        return original(payload)

    with mock.patch.object(tasks, "send_message", side_effect=broken_sms):
        result = send_single_message.apply(args=(_two_messages(),), throw=False)
    assert len(stub_providers.received("email")) == 1
    assert result.failed() and isinstance(result.result, ValueError)


def test_a_single_message_queued_before_this_change_is_still_sent(stub_providers):
    (sms,) = _two_messages()[:1]
    result = send_single_message.apply(args=(sms,))
    assert re.match(r"SM\w+", result.get())
    assert len(stub_providers.received("sms")) == 1


def test_queueing_messages_publishes_once_after_commit_and_nothing_for_none(
    publishes, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        queue_messages([])
        queue_messages(_two_messages())
        assert publishes.call_count == 0  # not before the commit
    assert publishes.call_count == 1
    assert OutboxMessage.objects.count() == 2
