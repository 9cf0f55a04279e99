"""Load the demo world once (Afghanistan, August 2021). Safe to run again: it skips."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from embassy.demo import DEMO_PASSWORD, demo_loaded, load_demo_data


class Command(BaseCommand):
    help = "Load demo registrants, areas, templates and staff accounts (development only)."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--force", action="store_true", help="load even with DEBUG off (never in production)")

    def handle(self, *args: object, **options: object) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError("Demo data has known passwords: it loads only with DEBUG on (or --force).")
        if demo_loaded():
            self.stdout.write("Demo data is already loaded.")
        else:
            counts = load_demo_data()
            self.stdout.write(
                f"Loaded {counts['citizens']} citizens ({counts['people']}+ people) in {counts['areas']} areas."
            )
        self.stdout.write(
            "Demo staff (password "
            + DEMO_PASSWORD
            + "): amina (author), james and lena (approvers), admin (administrator).\n"
            "Approvers and administrators enrol a TOTP app on first sign-in."
        )
