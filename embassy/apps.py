"""App configurations the project swaps in for Django's own."""

from __future__ import annotations

from django.contrib.admin.apps import AdminConfig


class StaffAdminConfig(AdminConfig):
    """``django.contrib.admin`` with ``admin.site`` behind the console's sign-in and its
    second factor (``embassy.admin_site.StaffAdminSite``)."""

    default_site = "embassy.admin_site.StaffAdminSite"
