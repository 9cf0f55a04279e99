"""Citizen-facing pages: register, verify, and self-service through signed links.

Every page works without JavaScript. Views validate, call a service, and render.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import get_language, get_language_from_request
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from embassy.health import broker_status
from registrations import services
from registrations.forms import (
    CodeForm,
    ContactForm,
    HouseholdFormSet,
    ManageRequestForm,
    PresenceForm,
    RegistrationContactForm,
)
from registrations.geo import regions_of
from registrations.languages import chose_site_language, email_link_citizen, use_citizen_language
from registrations.models import Citizen, Presence, Verification
from registrations.phones import masked_email, masked_phone
from registrations.ratelimit import over_limit, too_many


def _language_initial() -> str:
    current = (get_language() or "en").split("-")[0]
    return current if current in dict(settings.ALERT_LANGUAGES) else "en"


def _registration_forms(request: HttpRequest, data: dict | None = None, extra_people: int = 0) -> dict:
    country = (
        (data or {}).get("presence-country") or request.GET.get("country") or settings.REGISTRATION_DEFAULT_COUNTRY
    )
    household_kwargs: dict = {"prefix": "household"}
    if data is not None:
        household_kwargs["data"] = data
    else:
        household_kwargs["initial"] = [{}] * (1 + extra_people)
    return {
        "contact_form": RegistrationContactForm(
            data, prefix="contact", default_region=country, initial={"preferred_language": _language_initial()}
        ),
        "presence_form": PresenceForm(data, prefix="presence", initial={"country": country}),
        "household_formset": HouseholdFormSet(**household_kwargs),
    }


def _refresh(request: HttpRequest, add_person: bool) -> HttpResponse:
    """Re-show the form with what was typed (new country's regions, one more person row),
    without validating: the no-JavaScript path for dynamic parts of the form."""
    data = request.POST.copy()
    total = int(data.get("household-TOTAL_FORMS") or 0)
    if add_person and total < 20:
        data["household-TOTAL_FORMS"] = str(total + 1)
    contact = RegistrationContactForm(prefix="contact", initial=_unprefixed(data, "contact"))
    presence = PresenceForm(prefix="presence", initial=_unprefixed(data, "presence"))
    household = HouseholdFormSet(
        prefix="household",
        initial=[_unprefixed(data, f"household-{i}") for i in range(int(data["household-TOTAL_FORMS"] or 0))],
    )
    return render(
        request,
        "registrations/register.html",
        {"contact_form": contact, "presence_form": presence, "household_formset": household},
    )


def _unprefixed(data: dict, prefix: str) -> dict:
    start = prefix + "-"
    return {key[len(start) :]: value for key, value in data.items() if key.startswith(start)}


@never_cache
@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "registrations/register.html", _registration_forms(request))
    action = request.POST.get("action", "register")
    if action in ("refresh", "add_person"):
        return _refresh(request, add_person=action == "add_person")
    if over_limit(request, "register-client", settings.REGISTRATION_RATE_PER_CLIENT):
        return too_many(request, settings.REGISTRATION_RATE_PER_CLIENT)
    forms = _registration_forms(request, request.POST)
    valid = [f.is_valid() for f in forms.values()]
    if not all(valid):
        return render(request, "registrations/register.html", {**forms, "has_errors": True}, status=400)
    contact = forms["contact_form"].cleaned_data
    for address in (contact.get("phone"), contact.get("email")):
        if address and over_limit(request, "register-address", settings.REGISTRATION_RATE_PER_ADDRESS, key=address):
            return too_many(request, settings.REGISTRATION_RATE_PER_ADDRESS)
    _citizen, token = services.register_citizen(
        contact, forms["presence_form"].cleaned_data, forms["household_formset"].members()
    )
    return redirect("registrations:pending", token=token)


@never_cache
@require_http_methods(["GET", "POST"])
def pending(request: HttpRequest, token: str) -> HttpResponse:
    """The "enter your code" page after registering or changing a contact, in the
    citizen's language as the other pages of their links (``registrations.languages``)."""
    try:
        waiting = services.load_pending(token)
    except services.LinkError:
        return render(request, "registrations/link_invalid.html", status=404)
    if waiting.citizen is not None:
        use_citizen_language(request, waiting.citizen)
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and waiting.sms is not None:
        if request.POST.get("action") == "resend":
            if over_limit(request, "resend-address", settings.REGISTRATION_RATE_PER_ADDRESS, key=waiting.sms.address):
                return too_many(request, settings.REGISTRATION_RATE_PER_ADDRESS)
            fresh = services.resend_code(waiting.sms)
            messages.success(request, _("We sent a new code. The old one no longer works."))
            return redirect("registrations:pending", token=services.pending_token(fresh, waiting.email))
        if over_limit(request, "code-client", settings.CODE_ATTEMPT_RATE_PER_CLIENT) or over_limit(
            request, "code-address", settings.CODE_ATTEMPT_RATE_PER_CLIENT, key=waiting.sms.address
        ):
            return too_many(request, settings.CODE_ATTEMPT_RATE_PER_CLIENT)
        if form.is_valid():
            try:
                services.verify_code(waiting.sms.pk, form.cleaned_data["code"])
            except services.VerificationError as exc:
                form.add_error("code", exc.message)
            else:
                return _registered_in(request)
        status = 400
    return render(
        request,
        "registrations/pending.html",
        {
            "form": form,
            "waiting": waiting,
            "phone_hint": masked_phone(waiting.sms.address) if waiting.sms else "",
            "email_hint": masked_email(waiting.email.address) if waiting.email else "",
            "sms_done": bool(waiting.sms and waiting.sms.used_at),
            # Redis refused its message: it goes out when Redis is back (the beat), later.
            "sms_delayed": _delayed(waiting.sms),
            "email_delayed": _delayed(waiting.email),
        },
        status=status,
    )


def _delayed(verification: Verification | None) -> bool:
    """Whether ``verification``'s message could not be queued yet (Redis down): it is on
    its way all the same (``registrations.verification_messages``), only later."""
    return verification is not None and verification.queued_at is None and verification.sent_at is None


@never_cache
@require_GET
def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    """The link in the email that confirms an address. What it says when the link no
    longer works (used, expired) is in the citizen's language, as on their other links."""
    citizen = email_link_citizen(token)
    if citizen is not None:
        use_citizen_language(request, citizen)
    try:
        services.verify_email_token(token)
    except services.VerificationError as exc:
        return render(request, "registrations/link_invalid.html", {"reason": exc.message}, status=400)
    return _registered_in(request)


def _registered_in(request: HttpRequest) -> HttpResponse:
    """To "you are registered", in the language the code or link page was just shown in
    (the citizen's, unless this browser chose one): the page itself knows no citizen."""
    language = translation.get_language()
    if language == get_language_from_request(request) or language not in dict(settings.LANGUAGES):
        return redirect("registrations:registered")
    return redirect(f"{reverse('registrations:registered')}?{urlencode({'lang': language})}")


@require_GET
def registered(request: HttpRequest) -> HttpResponse:
    """The end of registering or of confirming a contact. ``?lang=`` (set by the pages
    that send here) shows it in the citizen's language; a language chosen in this browser
    with the switcher wins, and anything else is ignored."""
    language = request.GET.get("lang", "")
    if language in dict(settings.LANGUAGES) and not chose_site_language(request):
        translation.activate(language)
        request.LANGUAGE_CODE = language
    return render(request, "registrations/registered.html")


@require_GET
def regions(request: HttpRequest, country: str) -> JsonResponse:
    """Regions of a country, for the form's small script (the form works without it)."""
    return JsonResponse({"regions": [[code, name] for code, name in regions_of(country.upper())]})


# --- Self-service --------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def manage_request(request: HttpRequest) -> HttpResponse:
    form = ManageRequestForm(request.POST or None)
    if request.method == "POST":
        if over_limit(request, "manage-client", settings.REGISTRATION_RATE_PER_CLIENT):
            return too_many(request, settings.REGISTRATION_RATE_PER_CLIENT)
        if form.is_valid():
            contact = form.cleaned_data["contact"].strip()
            if over_limit(request, "manage-address", settings.REGISTRATION_RATE_PER_ADDRESS, key=contact.lower()):
                return too_many(request, settings.REGISTRATION_RATE_PER_ADDRESS)
            services.send_manage_link(contact)
            # Asked whoever asks (registered or not), so the page tells nothing of who is.
            messages_down = broker_status() == "unreachable"
            return render(request, "registrations/manage_sent.html", {"messages_down": messages_down})
    return render(request, "registrations/manage_request.html", {"form": form}, status=400 if form.errors else 200)


def _citizen_from_link(request: HttpRequest, token: str) -> Citizen:
    """The citizen a manage link names; the rest of the request is in their language
    (``registrations.languages``). Raises Http404 for a link that is not valid."""
    try:
        citizen = services.load_manage_token(token)
    except services.LinkError:
        raise Http404(_("This link is not valid or has expired.")) from None
    use_citizen_language(request, citizen)
    return citizen


@never_cache
@require_http_methods(["GET", "POST"])
def manage(request: HttpRequest, token: str) -> HttpResponse:
    """See and change everything held about the citizen."""
    citizen = _citizen_from_link(request, token)
    region = citizen.presences.exclude(country="").values_list("country", flat=True).first() or ""
    initial = {
        "full_name": citizen.full_name,
        "phone": citizen.phone,
        "email": citizen.email,
        "preferred_language": citizen.preferred_language,
        "emergency_contact_name": citizen.emergency_contact_name,
        "emergency_contact_phone": citizen.emergency_contact_phone,
    }
    members = list(citizen.household.values("full_name", "relationship", "age_group"))
    if request.method == "POST":
        contact_form = ContactForm(request.POST, prefix="contact", default_region=region)
        household_formset = HouseholdFormSet(request.POST, prefix="household")
        if contact_form.is_valid() and household_formset.is_valid():
            from django.db import transaction

            with transaction.atomic():
                pending_token = services.update_contact_details(citizen, contact_form.cleaned_data)
                services.replace_household(citizen, household_formset.members())
            use_citizen_language(request, citizen)  # say it in the language just chosen
            messages.success(request, _("Your changes are saved."))
            if pending_token:
                return redirect("registrations:pending", token=pending_token)
            return redirect("registrations:manage", token=token)
        status = 400
    else:
        contact_form = ContactForm(prefix="contact", initial=initial, default_region=region)
        household_formset = HouseholdFormSet(prefix="household", initial=members + [{}])
        status = 200
    return render(
        request,
        "registrations/manage.html",
        {
            "citizen": citizen,
            "token": token,
            "contact_form": contact_form,
            "household_formset": household_formset,
            "presences": citizen.presences.order_by("ended_at", "-arrival_date"),
            "check_ins": citizen.check_ins.all()[:10],
            "has_errors": status == 400,
        },
        status=status,
    )


@never_cache
@require_http_methods(["GET", "POST"])
def presence_edit(request: HttpRequest, token: str, presence_id: int | None = None) -> HttpResponse:
    """Add a trip (no presence_id) or change one."""
    citizen = _citizen_from_link(request, token)
    presence = get_object_or_404(Presence, pk=presence_id, citizen=citizen) if presence_id else None
    if request.method == "POST" and request.POST.get("action") != "refresh":
        form = PresenceForm(request.POST, prefix="presence")
        if form.is_valid():
            if presence is None:
                services.add_presence(citizen, form.cleaned_data)
            else:
                services.update_presence(presence, form.cleaned_data)
            messages.success(request, _("Your changes are saved."))
            return redirect("registrations:manage", token=token)
        status = 400
    else:
        if request.method == "POST":
            initial = _unprefixed(request.POST, "presence")
        elif presence is not None:
            initial = {
                "country": presence.country.code,
                "region": presence.region,
                "city": presence.city,
                "latitude": presence.latitude,
                "longitude": presence.longitude,
                "lives_here": presence.lives_here,
                "arrival_date": presence.arrival_date,
                "departure_date": presence.departure_date,
            }
        else:
            initial = {"country": settings.REGISTRATION_DEFAULT_COUNTRY}
        form = PresenceForm(prefix="presence", initial=initial)
        status = 200
    return render(
        request,
        "registrations/presence_form.html",
        {"form": form, "presence": presence, "token": token, "citizen": citizen},
        status=status,
    )


@require_POST
def presence_end(request: HttpRequest, token: str, presence_id: int) -> HttpResponse:
    citizen = _citizen_from_link(request, token)
    services.end_presence(get_object_or_404(Presence, pk=presence_id, citizen=citizen))
    messages.success(request, _("We have noted that you are no longer there."))
    return redirect("registrations:manage", token=token)


@never_cache
@require_http_methods(["GET", "POST"])
def delete(request: HttpRequest, token: str) -> HttpResponse:
    citizen = _citizen_from_link(request, token)
    if request.method == "POST":
        services.delete_citizen(citizen)
        return render(request, "registrations/deleted.html")
    return render(request, "registrations/delete_confirm.html", {"citizen": citizen, "token": token})
