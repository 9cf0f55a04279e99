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


class AreaForm(forms.Form):
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
                    country=data["country"], region=data["region"], name=data["name"], level=data.get("level")
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
