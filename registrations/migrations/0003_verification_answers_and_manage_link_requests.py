"""Verification claims answered or not; self-service links asked for kept until sent.

``answered_at``: a claim the provider answered. Open verifications claimed before this
migration were claimed by workers that never record an answer, so that the beat never
sends them again as claims whose worker died, each one claimed is marked answered as of
its claim (a few minutes' worth of rows, as 0002 did).
"""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import F
from django.utils import timezone


def mark_open_claims_answered(apps, schema_editor):
    Verification = apps.get_model("registrations", "Verification")
    Verification.objects.filter(sent_at__isnull=False, used_at__isnull=True, expires_at__gt=timezone.now()).update(
        answered_at=F("sent_at")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("registrations", "0002_verification_message_sent"),
    ]

    operations = [
        migrations.CreateModel(
            name="ManageLinkRequest",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("channel", models.CharField(choices=[("sms", "SMS"), ("email", "Email")], max_length=8)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("expires_at", models.DateTimeField()),
                ("queued_at", models.DateTimeField(blank=True, null=True)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
            ],
        ),
        migrations.AddField(
            model_name="verification",
            name="answered_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="verification",
            name="resends",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.RunPython(mark_open_claims_answered, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="verification",
            index=models.Index(
                condition=models.Q(
                    ("answered_at__isnull", True), ("sent_at__isnull", False), ("used_at__isnull", True)
                ),
                fields=["sent_at"],
                name="verification_unanswered",
            ),
        ),
        migrations.AddField(
            model_name="managelinkrequest",
            name="citizen",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="manage_link_requests",
                to="registrations.citizen",
            ),
        ),
        migrations.AddIndex(
            model_name="managelinkrequest",
            index=models.Index(fields=["expires_at"], name="manage_link_expiry"),
        ),
        migrations.AddConstraint(
            model_name="managelinkrequest",
            constraint=models.UniqueConstraint(
                condition=models.Q(("sent_at__isnull", True)),
                fields=("citizen", "channel"),
                name="manage_link_one_waiting",
            ),
        ),
    ]
