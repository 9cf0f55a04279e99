"""The embedded default's stand-in for Celery beat: run the beat schedule in this process.

With tasks run in-process (no broker) there is no beat to start scheduled alerts or sweep
stalled deliveries. ``scripts/run`` starts this next to the web server; production runs
``celery -A embassy beat`` instead.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run the periodic tasks of CELERY_BEAT_SCHEDULE in-process (development without a broker)."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--once", action="store_true", help="run every periodic task once and stop")

    def handle(self, *args: object, **options: object) -> None:
        from embassy.celery import app

        app.loader.import_default_modules()  # autodiscovered task modules, as a worker would

        schedule = {
            name: (entry["task"], float(entry["schedule"])) for name, entry in settings.CELERY_BEAT_SCHEDULE.items()
        }
        missing = [task for task, _ in schedule.values() if task not in app.tasks]
        if missing:
            raise CommandError(f"periodic tasks not registered: {', '.join(missing)}")
        last_run: dict[str, float] = {}
        self.stdout.write(f"Running {len(schedule)} periodic task(s) in-process: {', '.join(schedule)}")
        try:
            while True:
                now = time.monotonic()
                for name, (task, every) in schedule.items():
                    if options["once"] or now - last_run.get(name, -every) >= every:
                        last_run[name] = now
                        try:
                            app.tasks[task].apply(throw=True)
                        except Exception:
                            logger.exception("periodic task %s failed", name)
                if options["once"]:
                    return
                time.sleep(1.0)
        except KeyboardInterrupt:
            return
