"""Registration rules: register, verify, merge re-registrations, self-service changes.

Views call these; they never touch the models' rules themselves. Every function that
writes does so in one transaction, and messages are queued only after it commits.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import logging
import math
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import override

from alerts.notify import message_payload, queue_messages
from registrations.models import Citizen, HouseholdMember, ManageLinkRequest, Presence, Verification
from registrations.phones import normalize_phone

logger = logging.getLogger(__name__)

_EMAIL_SALT = "registrations.verify-email"
_PENDING_SALT = "registrations.pending"
_MANAGE_SALT = "registrations.manage"


class VerificationError(Exception):
    """A code or link did not verify. ``code``: expired, too_many, wrong, used, invalid."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class LinkError(Exception):
    """A self-service link is invalid, expired or revoked."""


@dataclass(frozen=True)
class PendingVerification:
    """What the "enter your code" page needs: the verifications it is waiting for."""

    sms: Verification | None
    email: Verification | None

    @property
    def citizen(self) -> Citizen | None:
        for verification in (self.sms, self.email):
            if verification is not None:
                return verification.citizen
        return None


# --- Register -----------------------------------------------------------------------


def register_citizen(contact: dict, presence: dict, household: list[dict]) -> tuple[Citizen, str]:
    """Create an unverified citizen with one presence and their household, and send the
    verification code (SMS) and/or link (email).

    Returns the citizen and a signed token for the "enter your code" page. Nothing is
    saved unless everything is, and nothing is sent unless it is saved.
    """
    with transaction.atomic():
        citizen = Citizen.objects.create(
            full_name=contact["full_name"],
            phone=contact.get("phone", ""),
            email=contact.get("email", ""),
            preferred_language=contact.get("preferred_language") or "en",
            emergency_contact_name=contact.get("emergency_contact_name", ""),
            emergency_contact_phone=contact.get("emergency_contact_phone", ""),
            consent_at=timezone.now(),
        )
        add_presence(citizen, presence)
        # A new citizen has no household and no earlier codes: nothing to delete or expire.
        _add_household(citizen, household)
        token = start_verifications(citizen, new_citizen=True)
    logger.info("citizen %s registered (unverified), household of %s", citizen.pk, 1 + len(household))
    return citizen, token


def start_verifications(citizen: Citizen, channels: list[str] | None = None, *, new_citizen: bool = False) -> str:
    """Send a code and/or link for each unverified contact (or for ``channels`` only), all
    in one task after commit; return the pending-page token.

    ``new_citizen``: the citizen was created in this transaction, so there are no earlier
    codes to expire (saves a query per channel).
    """
    if channels is None:
        channels = []
        if citizen.phone and not citizen.phone_verified_at:
            channels.append(Verification.Channel.SMS)
        if citizen.email and not citizen.email_verified_at:
            channels.append(Verification.Channel.EMAIL)
    opened = _open_verifications(citizen, channels, expire_earlier=not new_citizen)
    queue_messages([_verification_message(citizen, verification, code) for verification, code in opened])
    by_channel = {verification.channel: verification for verification, _code in opened}
    return pending_token(by_channel.get(Verification.Channel.SMS), by_channel.get(Verification.Channel.EMAIL))


def pending_token(sms: Verification | None, email: Verification | None) -> str:
    return signing.dumps({"s": sms.pk if sms else None, "e": email.pk if email else None}, salt=_PENDING_SALT)


def load_pending(token: str) -> PendingVerification:
    """Return the verifications a pending-page token names; raise LinkError if invalid."""
    try:
        data = signing.loads(token, salt=_PENDING_SALT, max_age=24 * 3600)
    except signing.BadSignature:
        raise LinkError("invalid or expired") from None
    rows = {v.pk: v for v in Verification.objects.select_related("citizen").filter(pk__in=[data["s"], data["e"]])}
    pending = PendingVerification(sms=rows.get(data["s"]), email=rows.get(data["e"]))
    if pending.sms is None and pending.email is None:
        raise LinkError("nothing pending")
    return pending


def _code_hash(verification_id: int, address: str, code: str, secret: str | None = None) -> str:
    message = f"{verification_id}:{address}:{code}".encode()
    key = secret if secret is not None else settings.SECRET_KEY
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def verification_code(verification: Verification, secret: str | None = None) -> str:
    """The 6-digit SMS code of a saved verification, derived from its row (id and
    address) with SECRET_KEY (or ``secret``), as its email link is signed with it.

    Derived rather than drawn at random so that its message can be made again, word for
    word, when Redis lost the first (``registrations.verification_messages``) while only
    the code's hash is stored: reading the database alone still gives no code, and
    SECRET_KEY alone already signs every self-service and email link.
    """
    digest = salted_hmac(
        "registrations.verification-code",
        f"{verification.pk}:{verification.address}",
        secret=secret,
        algorithm="sha256",
    ).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10**6:06d}"


def code_to_send_again(verification: Verification) -> str | None:
    """The code an SMS verification was made with (``verification_code``, keyed with
    SECRET_KEY or, across a rotation, a fallback), or None when it has none of these
    (a code drawn at random before codes were derived)."""
    for key in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS):
        code = verification_code(verification, key)
        if hmac.compare_digest(_code_hash(verification.pk, verification.address, code, key), verification.code_hash):
            return code
    return None


def _code_matches(verification: Verification, code: str) -> bool:
    """Whether ``code`` is the one sent, keyed with SECRET_KEY or a fallback (a code
    sent just before a key rotation still works for its few minutes)."""
    keys = (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS)
    return any(
        hmac.compare_digest(_code_hash(verification.pk, verification.address, code, key), verification.code_hash)
        for key in keys
    )


def start_verification(citizen: Citizen, channel: str) -> Verification:
    """Invalidate earlier codes for this contact and send a new code (SMS) or link (email)."""
    ((verification, code),) = _open_verifications(citizen, [channel])
    queue_messages([_verification_message(citizen, verification, code)])
    return verification


def _open_verifications(
    citizen: Citizen, channels: list[str], *, expire_earlier: bool = True
) -> list[tuple[Verification, str]]:
    """Create a verification per channel (in one INSERT where the database returns ids),
    after expiring the contact's earlier unused ones unless ``expire_earlier`` is off.

    Returns each verification with its SMS code ("" for email): only the code's hash is
    stored. Each is marked queued now: its message is published right after the commit
    (``start_verifications``), and if that fails it is marked not queued.
    """
    if not channels:
        return []
    now = timezone.now()
    if expire_earlier:
        for channel in channels:
            Verification.objects.filter(
                citizen=citizen, channel=channel, used_at__isnull=True, expires_at__gt=now
            ).update(expires_at=now)
    expires_at = now + datetime.timedelta(seconds=settings.VERIFICATION_CODE_TTL_SECONDS)
    verifications = [
        Verification(
            citizen=citizen,
            channel=channel,
            address=citizen.phone if channel == Verification.Channel.SMS else citizen.email,
            expires_at=expires_at,
            queued_at=now,
        )
        for channel in channels
    ]
    if len(verifications) > 1 and connection.features.can_return_rows_from_bulk_insert:
        Verification.objects.bulk_create(verifications)
    else:
        for verification in verifications:
            verification.save(force_insert=True)
    opened = []
    for verification in verifications:
        code = ""
        if verification.channel == Verification.Channel.SMS:
            # The code and its hash are bound to this row, so they need the row's id first.
            code = verification_code(verification)
            verification.code_hash = _code_hash(verification.pk, verification.address, code)
            verification.save(update_fields=["code_hash"])
        opened.append((verification, code))
    return opened


def _verification_message(citizen: Citizen, verification: Verification, code: str) -> dict:
    """The code (SMS) or link (email) message of a verification, in the citizen's language.

    It names its verification (sent once: ``registrations.verification_messages``), is
    worth sending until the verification expires, and says how many minutes are left
    (all of them, unless the beat sends it again later)."""
    left = (verification.expires_at - timezone.now()).total_seconds()
    minutes = max(1, math.ceil(left / 60))
    reference = f"verification:{verification.pk}"
    once = {"reference": reference, "valid_for": max(0.0, left), "verification": verification.pk}
    with override(citizen.preferred_language):
        if verification.channel == Verification.Channel.SMS:
            body = _("Your embassy registration code is %(code)s. It expires in %(minutes)s minutes.") % {
                "code": code,
                "minutes": minutes,
            }
            return message_payload("sms", verification.address, body, **once)
        token = signing.dumps({"v": verification.pk}, salt=_EMAIL_SALT)
        link = settings.PUBLIC_BASE_URL + reverse("registrations:verify-email", args=[token])
        subject = _("Confirm your email for embassy alerts")
        body = _(
            "Hello %(name)s,\n\nOpen this link to confirm this email address for safety messages from the "
            "embassy:\n\n%(link)s\n\nThe link expires in %(minutes)s minutes. If you did not register, ignore "
            "this email."
        ) % {"name": citizen.full_name, "link": link, "minutes": minutes}
        return message_payload("email", verification.address, body, subject=subject, **once)


def resend_code(verification: Verification) -> Verification:
    """Send a fresh code or link for the same contact (the old one stops working)."""
    return start_verification(verification.citizen, verification.channel)


def verify_code(verification_id: int, code: str) -> Citizen:
    """Check an SMS code. Returns the verified citizen (an earlier registration with the
    same number if this one merged into it). Raises VerificationError."""
    with transaction.atomic():
        verification = Verification.objects.select_for_update().select_related("citizen").get(pk=verification_id)
        _check_usable(verification)
        # Count the attempt before comparing, and keep the count even when the code is wrong.
        Verification.objects.filter(pk=verification.pk).update(attempts=verification.attempts + 1)
        matches = _code_matches(verification, code)
    if not matches:
        left = settings.VERIFICATION_MAX_ATTEMPTS - verification.attempts - 1
        if left <= 0:
            raise VerificationError("too_many", _("Too many wrong codes. Ask for a new code."))
        raise VerificationError("wrong", _("That code is not right. You have %(left)s tries left.") % {"left": left})
    return _confirm(verification.pk)


def email_link_verification_id(token: str, *, max_age: int | None = None) -> int:
    """The id of the verification an email link (``/verify-email/<token>/``) names, if we
    signed it (and, with ``max_age``, within that many seconds). Raises
    ``signing.SignatureExpired`` or ``signing.BadSignature``. It confirms nothing."""
    data = signing.loads(token, salt=_EMAIL_SALT, max_age=max_age)
    if not isinstance(data, dict) or not isinstance(data.get("v"), int):
        raise signing.BadSignature("no verification in the link")
    return data["v"]


def verify_email_token(token: str) -> Citizen:
    """Check an email link. Returns the verified citizen. Raises VerificationError."""
    try:
        verification_id = email_link_verification_id(token, max_age=settings.VERIFICATION_CODE_TTL_SECONDS)
    except signing.SignatureExpired:
        raise VerificationError("expired", _("This link has expired. Ask for a new one.")) from None
    except signing.BadSignature:
        raise VerificationError("invalid", _("This link is not valid.")) from None
    try:
        return _confirm(verification_id)
    except Verification.DoesNotExist:
        raise VerificationError("invalid", _("This link is not valid.")) from None


def _check_usable(verification: Verification) -> None:
    if verification.used_at is not None:
        raise VerificationError("used", _("This has already been confirmed."))
    if verification.expires_at <= timezone.now():
        raise VerificationError("expired", _("This code has expired. Ask for a new code."))
    if verification.attempts >= settings.VERIFICATION_MAX_ATTEMPTS:
        raise VerificationError("too_many", _("Too many wrong codes. Ask for a new code."))


def _confirm(verification_id: int) -> Citizen:
    with transaction.atomic():
        verification = Verification.objects.select_for_update().select_related("citizen").get(pk=verification_id)
        _check_usable(verification)
        citizen = verification.citizen
        field = "phone" if verification.channel == Verification.Channel.SMS else "email"
        if getattr(citizen, field) != verification.address:
            raise VerificationError("invalid", _("This contact has changed since the code was sent."))
        now = timezone.now()
        verification.used_at = now
        verification.save(update_fields=["used_at"])
        existing = (
            Citizen.objects.select_for_update()
            .filter(**{field: verification.address, f"{field}_verified_at__isnull": False})
            .exclude(pk=citizen.pk)
            .first()
        )
        if existing is not None:
            merge_registration(source=citizen, target=existing)
            logger.info("registration %s merged into citizen %s on %s verification", citizen.pk, existing.pk, field)
            return existing
        setattr(citizen, f"{field}_verified_at", now)
        citizen.save(update_fields=[f"{field}_verified_at", "updated_at"])
    logger.info("citizen %s verified %s", citizen.pk, field)
    return citizen


def merge_registration(*, source: Citizen, target: Citizen) -> None:
    """Fold a new registration into the verified citizen it turned out to be.

    The newer registration is the truth for name, language, emergency contact, consent
    and household; its presences are added (exact repeats dropped); a contact the
    target lacks, or has unverified, is taken over with its pending verification.
    Then the source row is deleted: no twin remains.
    """
    target.full_name = source.full_name
    target.preferred_language = source.preferred_language
    target.emergency_contact_name = source.emergency_contact_name
    target.emergency_contact_phone = source.emergency_contact_phone
    target.consent_at = source.consent_at
    for field in ("phone", "email"):
        new = getattr(source, field)
        if not new or new == getattr(target, field):
            continue
        if getattr(target, f"{field}_verified_at") is None or getattr(source, f"{field}_verified_at") is not None:
            # Take the newer contact; it needs (or already has) its own proof.
            verified_at = getattr(source, f"{field}_verified_at")
            setattr(source, field, "")
            Citizen.objects.filter(pk=source.pk).update(**{field: "", f"{field}_verified_at": None})
            setattr(target, field, new)
            setattr(target, f"{field}_verified_at", verified_at)
            setattr(target, f"{field}_opted_out_at", None)
            Verification.objects.filter(citizen=source, address=new).update(citizen=target)
    target.save()
    existing_keys = {
        (p.country.code, p.region, p.city, p.arrival_date, p.departure_date)
        for p in target.presences.filter(ended_at__isnull=True)
    }
    for presence in source.presences.all():
        key = (presence.country.code, presence.region, presence.city, presence.arrival_date, presence.departure_date)
        if key not in existing_keys:
            Presence.objects.filter(pk=presence.pk).update(citizen=target)
    target.household.all().delete()
    source.household.update(citizen=target)
    source.check_ins.update(citizen=target)
    # What was sent to, or came from, the registration while it waited for proof (an
    # urgent alert may include unverified contacts; a reply to it) is the target's now:
    # the board counts their answers, and erasing them later finds it.
    source.deliveries.update(citizen=target)
    source.inbound_messages.update(citizen=target)
    source.delete()


# --- Presences and household ---------------------------------------------------------


def add_presence(citizen: Citizen, data: dict) -> Presence:
    return Presence.objects.create(citizen=citizen, **_presence_fields(data))


def update_presence(presence: Presence, data: dict) -> Presence:
    for name, value in _presence_fields(data).items():
        setattr(presence, name, value)
    presence.save()
    return presence


def end_presence(presence: Presence) -> None:
    """The citizen is no longer there: keep the row, stop counting it."""
    if presence.ended_at is None:
        presence.ended_at = timezone.now()
        presence.save(update_fields=["ended_at"])


def _presence_fields(data: dict) -> dict:
    lives_here = bool(data.get("lives_here"))
    return {
        "country": data["country"],
        "region": data.get("region") or "",
        "city": (data.get("city") or "").strip(),
        "latitude": data.get("latitude"),
        "longitude": data.get("longitude"),
        "lives_here": lives_here,
        "arrival_date": data.get("arrival_date"),
        "departure_date": None if lives_here else data.get("departure_date"),
    }


def replace_household(citizen: Citizen, members: list[dict]) -> None:
    citizen.household.all().delete()
    _add_household(citizen, members)


def _add_household(citizen: Citizen, members: list[dict]) -> None:
    if not members:
        return
    HouseholdMember.objects.bulk_create(
        HouseholdMember(
            citizen=citizen,
            full_name=m["full_name"],
            relationship=m["relationship"],
            age_group=m["age_group"],
        )
        for m in members
    )


# --- Self-service --------------------------------------------------------------------


def find_verified_citizen(contact: str) -> Citizen | None:
    """The verified citizen with this phone (in international format) or email."""
    contact = contact.strip()
    if "@" in contact:
        return Citizen.objects.filter(email=contact.lower(), email_verified_at__isnull=False).first()
    try:
        phone = normalize_phone(contact, None)
    except Exception:
        return None
    return Citizen.objects.filter(phone=phone, phone_verified_at__isnull=False).first()


def manage_url(citizen: Citizen) -> str:
    token = signing.dumps({"c": citizen.pk, "g": citizen.link_generation}, salt=_MANAGE_SALT)
    return settings.PUBLIC_BASE_URL + reverse("registrations:manage", args=[token])


def load_manage_token(token: str) -> Citizen:
    """The citizen a self-service link is for; raise LinkError if invalid, expired or revoked."""
    try:
        data = signing.loads(token, salt=_MANAGE_SALT, max_age=settings.SELF_SERVICE_LINK_TTL_SECONDS)
    except signing.BadSignature:
        raise LinkError("invalid or expired") from None
    citizen = Citizen.objects.filter(pk=data.get("c")).first()
    if citizen is None or citizen.link_generation != data.get("g"):
        raise LinkError("revoked")
    return citizen


def send_manage_link(contact: str) -> None:
    """Send a self-service link to a verified contact, once, even if Redis is down now
    (``registrations.manage_links``). Says nothing about whether one exists: the page
    answers the same either way."""
    from registrations.manage_links import request_link

    citizen = find_verified_citizen(contact)
    if citizen is None:
        logger.info("self-service link asked for an unregistered contact")
        return
    request_link(citizen, ManageLinkRequest.Channel.EMAIL if "@" in contact else ManageLinkRequest.Channel.SMS)


def manage_link_message(citizen: Citizen, request: ManageLinkRequest) -> dict | None:
    """The message carrying ``citizen``'s self-service link, made now, to their confirmed
    contact on the request's channel, in their language; worth sending until the request
    expires. None when they have no confirmed contact on that channel (any more)."""
    link = manage_url(citizen)
    hours = settings.SELF_SERVICE_LINK_TTL_SECONDS // 3600
    once = {
        "reference": f"manage:{citizen.pk}",
        "valid_for": max(0.0, (request.expires_at - timezone.now()).total_seconds()),
        "manage_link": request.pk,
    }
    with override(citizen.preferred_language):
        if request.channel == ManageLinkRequest.Channel.EMAIL:
            if not citizen.email or citizen.email_verified_at is None:
                return None
            subject = _("Your embassy registration")
            body = _(
                "Hello %(name)s,\n\nOpen this link to see, change or delete what the embassy holds about you:\n\n"
                "%(link)s\n\nIt works for %(hours)s hours. If you did not ask for it, ignore this email."
            ) % {"name": citizen.full_name, "link": link, "hours": hours}
            return message_payload("email", citizen.email, body, subject=subject, **once)
        if not citizen.phone or citizen.phone_verified_at is None:
            return None
        body = _("Your embassy registration: see, change or delete it here (%(hours)sh): %(link)s") % {
            "hours": hours,
            "link": link,
        }
        return message_payload("sms", citizen.phone, body, **once)


def update_contact_details(citizen: Citizen, data: dict) -> str | None:
    """Apply a self-service change of name, contacts, language or emergency contact.

    A changed phone or email becomes unverified and gets a new code or link; returns the
    pending-page token then, else None. The citizen must keep at least one contact.
    """
    with transaction.atomic():
        changed: list[str] = []
        for field in ("phone", "email"):
            new = data.get(field, "")
            if new != getattr(citizen, field):
                setattr(citizen, field, new)
                setattr(citizen, f"{field}_verified_at", None)
                setattr(citizen, f"{field}_opted_out_at", None)
                if new:
                    changed.append(field)
        citizen.full_name = data["full_name"]
        citizen.preferred_language = data["preferred_language"]
        citizen.emergency_contact_name = data.get("emergency_contact_name", "")
        citizen.emergency_contact_phone = data.get("emergency_contact_phone", "")
        citizen.save()
        if not changed:
            return None
        channels = [Verification.Channel.SMS if field == "phone" else Verification.Channel.EMAIL for field in changed]
        return start_verifications(citizen, channels)


def delete_citizen(citizen: Citizen) -> None:
    """Delete a citizen and everything that names or reaches them, in one transaction
    (``registrations.erasure.erase_citizen``, which says what goes and what stays)."""
    from registrations.erasure import erase_citizen

    erase_citizen(citizen)
