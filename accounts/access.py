"""Who may reach which page. Every view of the service uses one of these decorators, so that the rule
for a role lives in one place (and the authorization matrix test can rely on it).

- pharmacy pages: a logged-in pharmacy account (anonymous → login page; any other account → 403),
  and, when SpF restricts the whole service to a pilot group, a member of it;
- ARS pages: an ARS agent (bound to a region) or SpF staff with the reporting permission, whose session
  passed the TOTP second factor;
- staff pages: SpF staff whose session passed the TOTP second factor (the admin too: accounts.apps).

Without a verified second factor an agent is sent to enrol one (first login) or to type a TOTP code.
Each wrapper carries ``access_rule`` ("pharmacy", "ars", "staff") so that tests can find every page of a role.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

View = Callable[..., HttpResponse]


def _login_or_deny(request: HttpRequest, login_url: str | None = None) -> HttpResponse | None:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), login_url)
    return None


def second_factor_verified(request: HttpRequest) -> bool:
    """Did this session pass a TOTP (or recovery code) check: at login, by re-authentication, or by
    enrolling the authenticator just now (accounts.signals)?"""
    from allauth.account.internal.flows.login import get_authentication_records

    return any(record.get("method") == "mfa" for record in get_authentication_records(request, request.user))


def second_factor_redirect(request: HttpRequest, next_url: str | None = None) -> HttpResponse | None:
    """None when the session is verified; otherwise where to go to verify it."""
    if second_factor_verified(request):
        return None
    from allauth.mfa.models import Authenticator
    from allauth.mfa.utils import is_mfa_enabled

    next_url = next_url or request.get_full_path()
    if not is_mfa_enabled(request.user, [Authenticator.Type.TOTP]):
        messages.warning(
            request,
            "La double authentification est obligatoire : activez-la avec une application TOTP pour continuer.",
        )
        return HttpResponseRedirect(reverse("mfa_activate_totp"))
    return HttpResponseRedirect(f"{reverse('mfa_reauthenticate')}?{urlencode({'next': next_url})}")


def pharmacy_required(view: View) -> View:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if (response := _login_or_deny(request)) is not None:
            return response
        pharmacy = getattr(request.user, "pharmacy", None)  # loaded with the user (accounts.backends)
        if pharmacy is None:
            raise PermissionDenied("Cette page est réservée aux comptes d'officine.")
        from sessions_calendar.selectors import pharmacy_may_use_service
        from vaccine_orders.portal.selectors import service_switches

        switches = service_switches()
        if not pharmacy_may_use_service(pharmacy=pharmacy, switches=switches):
            raise PermissionDenied(
                "Le service est pour le moment réservé aux officines pilotes. Il ouvrira prochainement à toutes "
                "les officines."
            )
        request.pharmacy = pharmacy
        # Read once per request: the ordering service checks the same switches without reading them again.
        request.service_switches = switches
        return view(request, *args, **kwargs)

    wrapper.access_rule = "pharmacy"  # type: ignore[attr-defined]
    return wrapper


def is_ars_agent(user: Any) -> bool:
    return bool(user.is_authenticated and getattr(user, "region_id", None))


def ars_required(view: View) -> View:
    """ARS agents (scoped to their region by the view) and SpF staff allowed to see reports."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if (response := _login_or_deny(request, reverse("staff_login"))) is not None:
            return response
        user = request.user
        if not (is_ars_agent(user) or (user.is_staff and user.has_perm("orders.view_order"))):
            raise PermissionDenied("Cette page est réservée aux agents des ARS et de Santé publique France.")
        if (response := second_factor_redirect(request)) is not None:
            return response
        return view(request, *args, **kwargs)

    wrapper.access_rule = "ars"  # type: ignore[attr-defined]
    return wrapper


def staff_required(view: View) -> View:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if (response := _login_or_deny(request, reverse("staff_login"))) is not None:
            return response
        if not request.user.is_staff:
            raise PermissionDenied("Cette page est réservée aux agents de Santé publique France.")
        if (response := second_factor_redirect(request)) is not None:
            return response
        return view(request, *args, **kwargs)

    wrapper.access_rule = "staff"  # type: ignore[attr-defined]
    return wrapper
