"""Self-service links reach the citizen once, even when Redis is down when they ask.

A registered citizen asks for their self-service link on ``/manage/`` by phone or email.
The link travels to a worker through Redis, which may refuse the publish (it is down)
or lose the task (it restarted). So each link asked for is recorded first, as a
verification's message is (``registrations.verification_messages``), on a
``ManageLinkRequest`` row in PostgreSQL:

- made in the request's transaction, ``queued_at`` now; its task is published after the
  commit, and ``queued_at`` is set to None when that fails (``not_queued``);
- ``sent_at``: set by the task that sends it, in one conditional UPDATE, before the
  provider is asked (``claim``): only one task can, however many carry it. Cleared when
  the provider did not take it and it is tried again (``release``); the row is deleted
  once the provider answered (``answered``: took it, or refused it for good).

At most one link waits per citizen and channel (a unique constraint on the unsent rows):
asking again while one waits adds nothing, so a person who asked three times while
Redis was down gets one link when it is back. Asking again once it went sends another,
as before (the rate limits, ``registrations.ratelimit``, bound how often).

The beat (``requeue_unsent``, run with the verification messages' every
``VERIFICATION_REQUEUE_EVERY_SECONDS``) publishes again those whose publish failed, at
once, and those whose task is overdue (as for codes), while they are worth sending:
until ``expires_at``, ``SELF_SERVICE_LINK_TTL_SECONDS`` after they were asked for, as
long as a link works. The link in the message is made when the message is, and goes
to the citizen's confirmed contact on that channel then (the row holds no address);
none is sent once that contact is no longer confirmed. Rows past ``expires_at`` are
deleted by the same pass. Erasing the citizen deletes theirs (a foreign key).

Not covered: a worker killed between its claim and the provider's answer leaves the
link claimed and unsent until it expires (verification codes are sent again, links are
not: the person can ask again, and the page never promised more than "if registered").
"""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from registrations.models import Citizen, ManageLinkRequest
from registrations.verification_messages import due_again

logger = logging.getLogger(__name__)


def request_link(citizen: Citizen, channel: str) -> ManageLinkRequest | None:
    """Record that ``citizen`` asked for their self-service link on ``channel`` (``sms``
    or ``email``) and queue its message after the commit. Returns the request, or None
    when one is waiting already (that one goes; nothing is added)."""
    from alerts.notify import queue_messages
    from registrations.services import manage_link_message

    now = timezone.now()
    with transaction.atomic():
        try:
            with transaction.atomic():
                request = ManageLinkRequest.objects.create(
                    citizen=citizen,
                    channel=channel,
                    expires_at=now + datetime.timedelta(seconds=settings.SELF_SERVICE_LINK_TTL_SECONDS),
                    queued_at=now,
                )
        except IntegrityError:
            logger.info("self-service link for citizen %s: one is on its way already", citizen.pk)
            return None
        payload = manage_link_message(citizen, request)
        if payload is None:  # found by a contact that is not theirs: never happens from the form
            request.delete()
            return None
        queue_messages([payload])
    return request


def claim(request_id: int) -> datetime.datetime | None:
    """Claim a request's link for the provider: the time of the claim, or None when it
    must not be sent (another task claimed it, it expired, or it is gone)."""
    now = timezone.now()
    claimed = ManageLinkRequest.objects.filter(pk=request_id, sent_at__isnull=True, expires_at__gt=now).update(
        sent_at=now
    )
    return now if claimed else None


def answered(request_id: int, claimed_at: datetime.datetime) -> None:
    """The provider answered the claim made at ``claimed_at`` (took the link or refused it
    for good): the request is done, and deleted."""
    ManageLinkRequest.objects.filter(pk=request_id, sent_at=claimed_at).delete()


def release(request_id: int, claimed_at: datetime.datetime, *, retry_at: datetime.datetime) -> None:
    """The provider did not take the link claimed at ``claimed_at``; it is tried again at
    ``retry_at`` (the beat queues it again if that task is lost). When the person asked
    again meanwhile, that request's link goes instead and this one is deleted (one waits
    per citizen and channel)."""
    claimed = ManageLinkRequest.objects.filter(pk=request_id, sent_at=claimed_at)
    try:
        with transaction.atomic():
            claimed.update(sent_at=None, queued_at=retry_at)
    except IntegrityError:
        claimed.delete()


def postpone(request_ids: list[int], until: datetime.datetime) -> None:
    """Their links were queued again for ``until`` (a retry, a paused channel): the beat
    leaves them alone until then."""
    ManageLinkRequest.objects.filter(pk__in=request_ids, sent_at__isnull=True).update(queued_at=until)


def not_queued(request_ids: list[int]) -> None:
    """Their links could not be published: the beat's next pass queues them."""
    ManageLinkRequest.objects.filter(pk__in=request_ids, sent_at__isnull=True).update(queued_at=None)


def requeue_unsent(now: datetime.datetime | None = None) -> int:
    """Beat: delete the requests past their end, and publish again (one task each, up to
    ``VERIFICATION_REQUEUE_BATCH`` a pass) the links no task claimed whose publish failed
    or whose task is overdue; returns how many were published.

    Rows another pass holds are skipped; each is marked queued before its task is
    published, after the marks commit (and marked not queued again if that fails).
    """
    from alerts.notify import publish_messages
    from registrations.services import manage_link_message

    now = now or timezone.now()
    ManageLinkRequest.objects.filter(expires_at__lte=now).delete()
    payloads: list[dict] = []
    with transaction.atomic():
        rows = list(
            due_again(ManageLinkRequest.objects.filter(sent_at__isnull=True, expires_at__gt=now), now)
            .select_related("citizen")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("expires_at")[: settings.VERIFICATION_REQUEUE_BATCH]
        )
        if not rows:
            return 0
        gone: list[int] = []
        for row in rows:
            payload = manage_link_message(row.citizen, row)
            if payload is None:
                gone.append(row.pk)
            else:
                payloads.append(payload)
        if gone:  # the contact asked on is no longer a confirmed one of theirs
            ManageLinkRequest.objects.filter(pk__in=gone).delete()
        ManageLinkRequest.objects.filter(pk__in=[row.pk for row in rows if row.pk not in gone]).update(queued_at=now)

        def publish() -> None:
            for payload in payloads:
                publish_messages([payload])

        transaction.on_commit(publish)
    if payloads:
        logger.warning(
            "self-service links queued again (their publish failed or their task is overdue): %d", len(payloads)
        )
    return len(payloads)
