"""Areas (a country or a region of one) and the record of every level change."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField

from alerts.levels import level_name


class Area(models.Model):
    """What an advisory applies to: a whole country (``region == ""``) or one region.

    A country always has a level. A region's ``level`` is None while it inherits its
    country's level; ``effective_level`` gives the level in force either way.
    """

    country = CountryField(_("country"))
    region = models.CharField(_("region"), max_length=8, blank=True)  # ISO 3166-2, "" = whole country
    name = models.CharField(_("name"), max_length=120)
    # The name in other alert languages, {"fa": "کابل"}: what {area} says in a text in
    # that language (``name_in``). A language without one shows ``name``.
    local_names = models.JSONField(_("names in other languages"), default=dict, blank=True)
    level = models.PositiveSmallIntegerField(_("advisory level"), null=True, blank=True)
    level_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["country", "region"], name="area_unique_country_region"),
            models.CheckConstraint(condition=~Q(region="") | Q(level__isnull=False), name="area_country_has_level"),
        ]
        ordering = ["country", "region"]

    def __str__(self) -> str:
        return self.name

    def name_in(self, language: str) -> str:
        """The area's name in a text in ``language``: the one staff gave for it, else ``name``."""
        local = (self.local_names or {}).get(language)
        return local if isinstance(local, str) and local.strip() else self.name

    @property
    def is_country(self) -> bool:
        return self.region == ""

    @property
    def effective_level(self) -> int:
        if self.level is not None:
            return self.level
        country = Area.objects.filter(country=self.country, region="").only("level").first()
        return country.level if country and country.level is not None else 1

    @property
    def level_label(self) -> str:
        return level_name(self.effective_level)


class LevelChange(models.Model):
    """One change of an Area's level: who, when, from what to what, and why."""

    area = models.ForeignKey(Area, on_delete=models.CASCADE, related_name="level_changes")
    old_level = models.PositiveSmallIntegerField(null=True, blank=True)  # None: was inheriting
    new_level = models.PositiveSmallIntegerField(null=True, blank=True)  # None: inherits again
    reason = models.TextField(_("reason"))
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(auto_now_add=True)
    drafted_alert = models.ForeignKey(
        "alerts.Alert", null=True, blank=True, on_delete=models.SET_NULL, related_name="level_changes"
    )

    class Meta:
        ordering = ["-changed_at"]

    def __str__(self) -> str:
        return f"{self.area}: {self.old_level} -> {self.new_level}"
