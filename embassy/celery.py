"""The Celery application. Workers: ``celery -A embassy worker``; beat: ``celery -A embassy beat``."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "embassy.settings.local")

if os.environ.get("EMBASSY_LOOPBACK_ONLY") == "1":
    # Test runs start real workers: they may reach nothing beyond this machine.
    from embassy.netguard import allow_loopback_only

    allow_loopback_only()

app = Celery("embassy")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
