"""``manage.py issue_setup_code USERNAME``: a one-time code with which that staff member
sets up their authenticator (the first administrator of a new deployment; afterwards
administrators issue codes on the staff page)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from alerts.console import otp
from alerts.console.audit import record_audit


class Command(BaseCommand):
    help = "Print a one-time authenticator set-up code for a staff member."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()  # noqa: N806
        try:
            person = User.objects.get(username=options["username"], is_active=True)
        except User.DoesNotExist as exc:
            raise CommandError(f"no active user {options['username']!r}") from exc
        code = otp.issue_setup_code(person)
        record_audit(None, "issue_otp_setup_code", person, None, {"by": "manage.py issue_setup_code"})
        self.stdout.write(code)
        self.stderr.write(
            f"One-time set-up code for {person.get_username()}: valid {settings.OTP_SETUP_CODE_HOURS} hours, "
            "replaces any earlier code. Hand it over in person or by phone."
        )
