"""The staff test list: where test alerts go, and nowhere else."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class StaffTestRecipient(models.Model):
    """A staff phone and/or email that receives test alerts (never citizens)."""

    name = models.CharField(_("name"), max_length=200)
    phone = models.CharField(_("mobile number"), max_length=16, blank=True)  # E.164
    email = models.EmailField(_("email"), max_length=254, blank=True)  # stored lower-case
    language = models.CharField(_("language"), max_length=8, choices=settings.ALERT_LANGUAGES, default="en")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    active = models.BooleanField(_("receives test alerts"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(phone="") | ~Q(email=""), name="staff_test_recipient_has_contact"),
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: object, **kwargs: object) -> None:
        self.email = (self.email or "").strip().lower()
        super().save(*args, **kwargs)  # type: ignore[arg-type]
