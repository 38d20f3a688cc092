"""The Django admin behind the agents' login: e-mail + password + TOTP, never the admin's own form.

Installed on the default admin site by accounts.apps.AccountsConfig.ready().
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from .access import second_factor_redirect, second_factor_verified


def admin_login(request: HttpRequest, extra_context: Any = None) -> HttpResponse:
    next_url = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = reverse("admin:index")
    if request.user.is_authenticated:
        if request.user.is_active and request.user.is_staff:
            return second_factor_redirect(request, next_url) or redirect(next_url)
        raise PermissionDenied("L'administration est réservée aux agents de Santé publique France.")
    return redirect_to_login(next_url, reverse("staff_login"))


def install(site: admin.AdminSite = admin.site) -> None:
    django_has_permission = site.has_permission

    def has_permission(request: HttpRequest) -> bool:
        return django_has_permission(request) and second_factor_verified(request)

    site.has_permission = has_permission  # type: ignore[method-assign]
    site.login = admin_login  # type: ignore[method-assign]
