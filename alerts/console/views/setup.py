"""Administrators' set-up pages: the advisory templates per level and language, and areas."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_countries import countries

from alerts.console.audit import record_audit, snapshot
from alerts.console.permissions import Capability, console_view
from alerts.levels import level_choices
from alerts.models import AlertTemplate, Area
from alerts.services.rendering import PLACEHOLDERS
from registrations.geo import region_name, regions_of

_TEMPLATE_FIELDS = ("sms_text", "email_subject", "email_body")


class TemplateForm(forms.ModelForm):
    class Meta:
        model = AlertTemplate
        fields = _TEMPLATE_FIELDS
        widgets = {"sms_text": forms.Textarea(attrs={"rows": 4}), "email_body": forms.Textarea(attrs={"rows": 10})}


def _other_languages() -> list[tuple[str, str]]:
    """The alert languages besides the fallback: those an area may have a name of its own in."""
    return [(code, label) for code, label in settings.ALERT_LANGUAGES if code != settings.ALERT_FALLBACK_LANGUAGE]


class LocalNamesMixin:
    """One optional field per alert language for the area's name in it (``Area.local_names``)."""

    fields: dict[str, forms.Field]

    def add_local_name_fields(self, initial: dict[str, str] | None = None) -> None:
        for code, label in _other_languages():
            self.fields[f"name_{code}"] = forms.CharField(
                label=gettext_lazy("Name in %(language)s") % {"language": label},
                max_length=120,
                required=False,
                initial=(initial or {}).get(code, ""),
                help_text=gettext_lazy("What {area} says in a text in this language. Empty: the name staff see."),
            )

    def local_names(self, data: dict) -> dict[str, str]:
        """The names given, by language code (empty ones left out)."""
        names = {code: (data.get(f"name_{code}") or "").strip() for code, _label in _other_languages()}
        return {code: name for code, name in names.items() if name}

    def local_name_fields(self) -> list:
        return [self[f"name_{code}"] for code, _label in _other_languages()]  # type: ignore[index]


class AreaNamesForm(LocalNamesMixin, forms.Form):
    def __init__(self, *args: object, area: Area, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.add_local_name_fields(area.local_names)


class AreaForm(LocalNamesMixin, forms.Form):
    country = forms.ChoiceField(label=gettext_lazy("Country"))
    region = forms.CharField(
        label=gettext_lazy("Region (ISO 3166-2 code)"),
        required=False,
        max_length=8,
        help_text=gettext_lazy("Leave empty for the whole country. Example: AF-KAB."),
    )
    name = forms.CharField(label=gettext_lazy("Name staff see"), max_length=120, required=False)
    level = forms.TypedChoiceField(
        label=gettext_lazy("Advisory level"),
        coerce=int,
        required=False,
        empty_value=None,
        help_text=gettext_lazy("Required for a country; a region without one inherits its country's level."),
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["country"].choices = list(countries)
        self.fields["level"].choices = [("", "—")] + [(n, f"{n} · {name}") for n, name in level_choices()]
        self.add_local_name_fields()

    def clean(self) -> dict:
        data = super().clean()
        country, region = data.get("country", ""), (data.get("region") or "").strip().upper()
        data["region"] = region
        if region and country and region not in dict(regions_of(country)):
            self.add_error("region", _("%(code)s is not a region of the chosen country.") % {"code": region})
        if not region and data.get("level") is None:
            self.add_error("level", _("A country needs a level."))
        if not data.get("name") and country:
            data["name"] = region_name(region) if region else str(dict(countries).get(country, country))
        return data


@console_view(Capability.MANAGE_SETUP)
def template_list(request: HttpRequest) -> HttpResponse:
    existing = {(t.level, t.language): t for t in AlertTemplate.objects.all()}
    languages = list(settings.ALERT_LANGUAGES)
    rows = [
        {"level": number, "name": name, "cells": [(code, existing.get((number, code))) for code, _label in languages]}
        for number, name in level_choices()
    ]
    return render(request, "alerts/console/templates.html", {"rows": rows, "languages": languages})


@console_view(Capability.MANAGE_SETUP)
def template_edit(request: HttpRequest, level: int, language: str) -> HttpResponse:
    if level not in dict(level_choices()) or language not in dict(settings.ALERT_LANGUAGES):
        raise Http404
    template = AlertTemplate.objects.filter(level=level, language=language).first()
    instance = template or AlertTemplate(level=level, language=language)
    form = TemplateForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():  # ModelForm runs the model's placeholder check
        with transaction.atomic():
            before = snapshot(template, _TEMPLATE_FIELDS) if template else None
            saved = form.save(commit=False)
            saved.updated_by = request.user
            saved.save()
            record_audit(request.user, "edit_template", saved, before, snapshot(saved, _TEMPLATE_FIELDS))
        messages.success(request, _("Template saved."))
        return redirect("console:templates")
    return render(
        request,
        "alerts/console/template_edit.html",
        {
            "form": form,
            "level": level,
            "language": dict(settings.ALERT_LANGUAGES)[language],
            "placeholders": PLACEHOLDERS,
        },
        status=400 if form.errors else 200,
    )


@console_view(Capability.MANAGE_SETUP)
def area_list(request: HttpRequest) -> HttpResponse:
    form = AreaForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                area = Area.objects.create(
                    country=data["country"],
                    region=data["region"],
                    name=data["name"],
                    local_names=form.local_names(data),
                    level=data.get("level"),
                )
                record_audit(request.user, "create_area", area, None, snapshot(area))
        except IntegrityError:
            form.add_error(None, _("This area exists already."))
        else:
            messages.success(request, _("Area %(name)s added.") % {"name": area.name})
            return redirect("console:areas")
    return render(
        request,
        "alerts/console/areas.html",
        {"form": form, "areas": Area.objects.order_by("country", "region")},
        status=400 if form.errors else 200,
    )


@console_view(Capability.MANAGE_SETUP)
def area_names(request: HttpRequest, area_id: int) -> HttpResponse:
    """An area's names in the other alert languages: what {area} says in texts in them."""
    try:
        area = Area.objects.get(pk=area_id)
    except Area.DoesNotExist:
        raise Http404 from None
    form = AreaNamesForm(request.POST or None, area=area)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            locked = Area.objects.select_for_update().get(pk=area.pk)
            before = {"local_names": locked.local_names}
            locked.local_names = form.local_names(form.cleaned_data)
            locked.save(update_fields=["local_names"])
            record_audit(request.user, "edit_area_names", locked, before, {"local_names": locked.local_names})
        messages.success(request, _("Names of %(name)s saved.") % {"name": area.name})
        return redirect("console:areas")
    return render(
        request,
        "alerts/console/area_names.html",
        {"form": form, "area": area},
        status=400 if form.errors else 200,
    )
