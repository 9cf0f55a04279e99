"""The language of the pages a citizen reaches by a personal link.

A link in an SMS or email (check-in, unsubscribe, manage my registration, confirm my
email) and the code-entry page after registering or changing a contact name the
citizen, who chose a language when registering; the phone that opens it may well be
set to another one (a borrowed phone, one bought abroad, a work laptop). Such a page
follows the citizen's choice when the site is translated into it (``settings.LANGUAGES``;
for an alert-only language such as Pashto it follows the browser as before), unless the
person has picked a language on the site itself with the language switcher: Django's
``set_language`` view stores that choice in the language cookie, and an explicit choice
made in this browser always wins.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.http import HttpRequest
from django.utils import translation

from registrations import services
from registrations.models import Citizen, Verification


def chose_site_language(request: HttpRequest) -> bool:
    """Whether this browser holds a language picked with the site's language switcher
    (a language cookie naming a language of the site; ``LocaleMiddleware`` ignores any
    other value, and so does this)."""
    chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    if not chosen:
        return False
    try:
        translation.get_supported_language_variant(chosen)
    except LookupError:
        return False
    return True


def link_page_language(request: HttpRequest, citizen: Citizen) -> str | None:
    """The language a page behind ``citizen``'s personal link is shown in, or None to
    leave the one ``LocaleMiddleware`` took from the request (an explicit choice, or the
    browser's when the citizen's language is not one of the site's)."""
    if chose_site_language(request):
        return None
    language = citizen.preferred_language
    return language if language in dict(settings.LANGUAGES) else None


def use_citizen_language(request: HttpRequest, citizen: Citizen) -> str:
    """Show the rest of this request in ``citizen``'s language (``link_page_language``)
    and return the language the page is in.

    Activates it for the thread as ``LocaleMiddleware`` does, so that the response's
    Content-Language, which the middleware sets on the way out, says the same.
    """
    language = link_page_language(request, citizen)
    if language is not None:
        translation.activate(language)
        request.LANGUAGE_CODE = language
    return translation.get_language()


def email_link_citizen(token: str) -> Citizen | None:
    """The citizen an email-confirmation link (``/verify-email/<token>/``) was sent to,
    whether or not it still confirms anything (used or expired links included, so that
    the page saying so is in their language); None for a token we did not sign or whose
    verification is gone. It verifies nothing: ``services.verify_email_token`` does."""
    try:
        # No max_age: expired links are read too, so that the page saying so is theirs.
        verification_id = services.email_link_verification_id(token)
    except signing.BadSignature:
        return None
    verification = Verification.objects.select_related("citizen").filter(pk=verification_id).first()
    return verification.citizen if verification is not None else None
