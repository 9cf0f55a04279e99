"""Verification messages recorded in PostgreSQL: when queued, when claimed for the provider.

Verifications made before this migration had random codes that only their (queued)
tasks know, and those tasks are sent as before, unguarded. So that the beat never
tries to send them again, every one still open is marked queued and sent as of its
creation; older rows cannot be sent anyway. Only open rows are written (a few minutes'
worth), not the whole table.
"""

from django.db import migrations, models
from django.db.models import F
from django.utils import timezone


def mark_open_verifications_sent(apps, schema_editor):
    Verification = apps.get_model("registrations", "Verification")
    Verification.objects.filter(used_at__isnull=True, expires_at__gt=timezone.now()).update(
        queued_at=F("created_at"), sent_at=F("created_at")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("registrations", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="verification",
            name="queued_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="verification",
            name="sent_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(mark_open_verifications_sent, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="verification",
            index=models.Index(
                condition=models.Q(("sent_at__isnull", True), ("used_at__isnull", True)),
                fields=["expires_at"],
                name="verification_unsent",
            ),
        ),
    ]
