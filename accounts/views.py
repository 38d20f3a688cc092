"""Login pages and "Visualiser compte": thin views over accounts.services and allauth."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from allauth.account.views import LoginView
from allauth.core import ratelimit
from allauth.socialaccount.helpers import complete_social_login
from allauth.socialaccount.models import SocialLogin
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from vaccine_orders.audit.actors import actor_from_request
from vaccine_orders.portal.support import SupportReason, support_url

from . import services
from .access import pharmacy_required
from .adapters import SESSION_PENDING_CHOICE_KEY, psc_is_unavailable
from .email_change import (
    CheckResult,
    email_change_cancel,
    email_change_check,
    email_change_pending,
    email_change_start,
)
from .forms import EmailCodeForm, PharmacyChoiceForm, PharmacyEmailForm
from .psc.claims import PscIdentity
from .selectors import pharmacy_authorities, pharmacy_psc_identities

# The French pages of a refused PSC login: title, explanation, support reason, HTTP status.
REFUSALS: dict[str, dict[str, Any]] = {
    "profile": {
        "title": "Votre profil ne permet pas de commander",
        "reason": SupportReason.CONNEXION_PSC,
        "status": 403,
    },
    "referential": {
        "title": "Problème de référentiel",
        "reason": SupportReason.REFERENTIEL,
        "status": 403,
    },
    "sso": {
        "title": "Problème technique SSO d'authentification",
        "reason": SupportReason.SSO_TECHNIQUE,
        "status": 401,
    },
    "unavailable": {
        "title": "Pro Santé Connect ne répond pas",
        "reason": SupportReason.CONNEXION_PSC,
        "status": 503,
    },
}


def render_login_refused(
    request: HttpRequest, *, kind: str, detail: str = "", identity: PscIdentity | None = None
) -> HttpResponse:
    refusal = REFUSALS[kind]
    return render(
        request,
        "accounts/login_refused.html",
        {
            "page_title": refusal["title"],
            "kind": kind,
            "title": refusal["title"],
            "identity": identity,
            "support_link": support_url(refusal["reason"], error=f"{refusal['title']} – {detail}"),
            "fallback_open": psc_is_unavailable(),
        },
        status=refusal["status"],
    )


def _safe_next(request: HttpRequest, default: str) -> str:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if next_url and url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return next_url
    return default


class StaffLoginView(LoginView):
    """The agents' page (SpF, support, ARS): e-mail and password, then the TOTP code (allauth.mfa)."""

    template_name = "accounts/staff_login.html"


staff_login = StaffLoginView.as_view()


def psc_logged_out(request: HttpRequest) -> HttpResponse:
    """Where PSC sends the browser back after ending its session (the post-logout redirect URI)."""
    return render(request, "accounts/logged_out.html", {"page_title": "Vous êtes déconnecté"})


@require_http_methods(["GET", "POST"])
def psc_choose_pharmacy(request: HttpRequest) -> HttpResponse:
    """A PSC login that may open several officines: the person picks one, then the login goes on."""
    pending = request.session.get(SESSION_PENDING_CHOICE_KEY)
    if not pending:
        return redirect("account_login")
    from .models import Pharmacy

    pharmacies = list(Pharmacy.objects.filter(finess__in=pending["finess"]).order_by("name"))
    form = PharmacyChoiceForm(request.POST or None, pharmacies=pharmacies)
    if request.method == "POST" and form.is_valid():
        request.session.pop(SESSION_PENDING_CHOICE_KEY, None)
        sociallogin = SocialLogin.deserialize(pending["sociallogin"])
        sociallogin.state["psc_finess"] = form.cleaned_data["finess"]
        return complete_social_login(request, sociallogin)
    return render(request, "accounts/choose_pharmacy.html", {"form": form, "page_title": "Choisissez votre officine"})


# --- "Visualiser compte" -----------------------------------------------------------------------------


@pharmacy_required
def pharmacy_account(request: HttpRequest) -> HttpResponse:
    pharmacy = request.pharmacy
    return render(
        request,
        "accounts/pharmacy_account.html",
        {
            "page_title": "Mon compte",
            "pharmacy": pharmacy,
            "authorities": pharmacy_authorities(pharmacy=pharmacy),
            "identities": pharmacy_psc_identities(user=request.user),
            "pending": email_change_pending(request, pharmacy=pharmacy),
        },
    )


def _email_form_view(request: HttpRequest, *, first: bool) -> HttpResponse:
    pharmacy = request.pharmacy
    next_url = _safe_next(request, reverse("home") if first else reverse("pharmacy_account"))
    if first and pharmacy.email_verified_at:
        return redirect(next_url)
    current = pharmacy.email if pharmacy.email_verified_at else ""
    form = PharmacyEmailForm(request.POST or None, current=current, initial={"email": current})
    if request.method == "POST" and form.is_valid():
        if not ratelimit.consume(request, action="manage_email", user=request.user):
            form.add_error(None, "Trop de demandes : réessayez dans une minute.")
        else:
            email_change_start(request, pharmacy=pharmacy, email=form.cleaned_data["email"])
            messages.success(request, f"Un code de vérification a été envoyé à {form.cleaned_data['email']}.")
            return redirect(f"{reverse('pharmacy_email_confirm')}?{urlencode({'next': next_url})}")
    return render(
        request,
        "accounts/pharmacy_email_form.html",
        {
            "page_title": "Adresse e-mail de votre officine" if first else "Modifier l'adresse e-mail",
            "form": form,
            "first": first,
            "pharmacy": pharmacy,
            "next": next_url,
        },
    )


@pharmacy_required
@require_http_methods(["GET", "POST"])
def pharmacy_email_first(request: HttpRequest) -> HttpResponse:
    """The first-login dialog: the officine's e-mail address, proved with a code."""
    return _email_form_view(request, first=True)


@pharmacy_required
@require_http_methods(["GET", "POST"])
def pharmacy_email_edit(request: HttpRequest) -> HttpResponse:
    """ "Modifier" → "Enregistrer": a new address, proved with a new code; the old one is told."""
    return _email_form_view(request, first=False)


@pharmacy_required
@require_http_methods(["GET", "POST"])
def pharmacy_email_confirm(request: HttpRequest) -> HttpResponse:
    pharmacy = request.pharmacy
    next_url = _safe_next(request, reverse("pharmacy_account"))
    pending = email_change_pending(request, pharmacy=pharmacy)
    if pending is None:
        messages.error(
            request, "Le code a expiré ou aucune vérification n'est en cours : saisissez l'adresse à nouveau."
        )
        return redirect("pharmacy_email_edit" if pharmacy.email_verified_at else "pharmacy_email_first")
    form = EmailCodeForm(request.POST or None)
    if request.method == "POST" and request.POST.get("action") == "cancel":
        email_change_cancel(request)
        return redirect(next_url)
    if request.method == "POST" and form.is_valid():
        result, email = email_change_check(request, pharmacy=pharmacy, code=form.cleaned_data["code"])
        if result is CheckResult.OK:
            try:
                services.pharmacy_email_set(pharmacy=pharmacy, email=email, actor=actor_from_request(request))
            except services.AccountError as exc:
                messages.error(request, exc.message)
                return redirect("pharmacy_email_edit" if pharmacy.email_verified_at else "pharmacy_email_first")
            messages.success(request, f"L'adresse e-mail de l'officine est désormais {email}.")
            return redirect(next_url)
        if result is CheckResult.WRONG:
            form.add_error("code", "Code incorrect. Vérifiez le code reçu par e-mail.")
            pending = email_change_pending(request, pharmacy=pharmacy)
        else:
            messages.error(
                request,
                "Trop de codes incorrects : saisissez l'adresse à nouveau pour recevoir un nouveau code."
                if result is CheckResult.BLOCKED
                else "Le code a expiré : saisissez l'adresse à nouveau pour recevoir un nouveau code.",
            )
            return redirect("pharmacy_email_edit" if pharmacy.email_verified_at else "pharmacy_email_first")
    return render(
        request,
        "accounts/pharmacy_email_confirm.html",
        {"page_title": "Vérification de l'adresse e-mail", "form": form, "pending": pending, "next": next_url},
    )
