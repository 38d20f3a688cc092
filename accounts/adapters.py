"""django-allauth adapters: who may log in how, which account a PSC identity opens, what the session records.

- Nobody signs up: pharmacy accounts come from the PSC login (one per officine), staff and ARS accounts are
  created by SpF.
- Pharmacy accounts log in with PSC, or with a one-time e-mail code while SpF has switched "PSC
  indisponible"; never with a password.
- Staff and ARS agents log in with e-mail + password, then TOTP (allauth.mfa; enforced by accounts.access).
- After each login the acting identity is stored in the session (vaccine_orders.audit.actors) and journaled.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.flows.login import get_authentication_records
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialAccount, SocialLogin
from allauth.socialaccount.providers.base import AuthProcess
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse

from vaccine_orders.audit.actors import SESSION_ACTOR_LABEL_KEY, Actor

from . import services
from .psc.claims import psc_identity
from .psc.views import PROVIDER_ID, PscLoginError

logger = logging.getLogger(__name__)

# The raw ID token of the PSC login, sent back as id_token_hint when the session ends (RP-initiated logout).
SESSION_PSC_ID_TOKEN_KEY = "psc_id_token"  # noqa: S105 - a session key, not a secret
# A PSC login waiting for the person to pick one of several officines (accounts.views.psc_choose_pharmacy).
SESSION_PENDING_CHOICE_KEY = "psc_pending_choice"


def psc_is_unavailable() -> bool:
    from vaccine_orders.portal.models import ServiceSettings

    return ServiceSettings.load().psc_unavailable


def last_login_method(request: HttpRequest, user: Any) -> dict[str, Any]:
    records = [r for r in get_authentication_records(request, user) if r.get("method") != "mfa"]
    return records[-1] if records else {}


def actor_label_for(user: Any, record: dict[str, Any], sociallogin: SocialLogin | None = None) -> str:
    if sociallogin is not None and sociallogin.account.provider == PROVIDER_ID:
        return psc_identity((sociallogin.account.extra_data or {}).get("userinfo") or {}).label
    if user.pharmacy_id:
        return f"Connexion par code e-mail (officine {user.pharmacy.finess}, {record.get('email') or user.email})"
    name = user.get_full_name() or user.email or user.get_username()
    if user.region_id:
        return f"{name} (agent ARS {user.region.name})"
    if user.is_staff:
        return f"{name} (agent Santé publique France)"
    return name


def _method_label(record: dict[str, Any]) -> str:
    return {
        "socialaccount": "Pro Santé Connect",
        "code": "code à usage unique envoyé par e-mail",
        "password": "e-mail et mot de passe",
    }.get(record.get("method", ""), record.get("method", "inconnue"))


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        # Staff and ARS accounts are created by SpF; pharmacy accounts come from the PSC login.
        return False

    def pre_login(self, request: HttpRequest, user: Any, **kwargs: Any) -> HttpResponse | None:
        method = last_login_method(request, user).get("method")
        refusal = None
        if user.pharmacy_id and method == "password":
            refusal = "Les officines se connectent avec Pro Santé Connect."
        elif method == "code" and not user.pharmacy_id:
            refusal = "La connexion par code est réservée aux officines. Connectez-vous avec votre mot de passe."
        elif method == "code" and not psc_is_unavailable():
            refusal = (
                "Pro Santé Connect fonctionne : la connexion par code e-mail est fermée. Connectez-vous avec Pro "
                "Santé Connect."
            )
        if refusal:
            from allauth.account.internal.stagekit import clear_login

            clear_login(request)
            messages.error(request, refusal)
            return HttpResponseRedirect(reverse("account_login"))
        return super().pre_login(request, user, **kwargs)

    def post_login(self, request: HttpRequest, user: Any, **kwargs: Any) -> HttpResponse:
        signal_kwargs = kwargs.get("signal_kwargs") or {}
        sociallogin = signal_kwargs.get("sociallogin")
        record = last_login_method(request, user)
        label = actor_label_for(user, record, sociallogin)
        request.session[SESSION_ACTOR_LABEL_KEY] = label
        if sociallogin is not None and sociallogin.state.get("psc_id_token"):
            request.session[SESSION_PSC_ID_TOKEN_KEY] = sociallogin.state["psc_id_token"]
        services.login_record(actor=Actor(user=user, label=label), user=user, method=_method_label(record))
        response = super().post_login(request, user, **kwargs)
        return self._first_steps(request, user, response) or response

    def _first_steps(self, request: HttpRequest, user: Any, response: HttpResponse) -> HttpResponse | None:
        """What must happen right after the first login: the officine's e-mail, an agent's TOTP."""
        target = response.get("Location") or reverse("home")
        if user.pharmacy_id and not user.pharmacy.email_verified_at:
            return redirect(f"{reverse('pharmacy_email_first')}?{urlencode({'next': target})}")
        if user.is_staff or user.region_id:
            from allauth.mfa.models import Authenticator
            from allauth.mfa.utils import is_mfa_enabled

            if not is_mfa_enabled(user, [Authenticator.Type.TOTP]):
                from allauth.account.internal.flows.login import record_authentication

                # The password was typed seconds ago: enrolling TOTP must not ask for it again.
                record_authentication(request, user, "password", reauthenticated=True)
                messages.warning(
                    request,
                    "Activez la double authentification (application TOTP) : elle est obligatoire pour accéder à "
                    "vos pages.",
                )
                return redirect("mfa_activate_totp")
        return None

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        user = request.user
        if user.is_authenticated and user.is_staff:
            return reverse("admin:index")
        return super().get_login_redirect_url(request)

    def get_logout_redirect_url(self, request: HttpRequest) -> str:
        """After a PSC session, the browser goes through PSC's end-session endpoint so that the CPS / e-CPS
        session ends too, then comes back to our "déconnecté" page."""
        id_token = request.session.get(SESSION_PSC_ID_TOKEN_KEY)
        if id_token:
            from .psc.logout import end_session_url

            url = end_session_url(request, id_token=id_token)
            if url:
                return url
        return super().get_logout_redirect_url(request)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        # A PSC identity never creates an account of its own: pre_social_login attaches it to the officine's.
        return False

    def on_authentication_error(
        self, request: HttpRequest, provider, error=None, exception=None, extra_context=None
    ) -> None:
        """Any failure of the PSC handshake (state, nonce, acr, signature, PSC unreachable...) gets the French
        "Problème technique SSO d'authentification" page; a cancel at PSC goes back to the login page."""
        from allauth.socialaccount.providers.base.constants import AuthError

        from .views import render_login_refused

        # PSC's "Annuler" comes back with error=access_denied (sometimes without the state).
        if error == AuthError.CANCELLED or request.GET.get("error") == "access_denied":
            messages.info(request, "Connexion Pro Santé Connect annulée.")
            raise ImmediateHttpResponse(redirect("account_login"))
        reason = exception.reason if isinstance(exception, PscLoginError) else repr(exception or error)
        services.login_refusal_record(identity=None, reason="sso", detail=f"Problème technique SSO : {reason}")
        raise ImmediateHttpResponse(render_login_refused(request, kind="sso", detail=reason))

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        """Re-checked at every login: who may order (claims + table of authorities), then attach the identity to
        the officine's account (created at the officine's first login)."""
        from .views import render_login_refused

        if sociallogin.account.provider != PROVIDER_ID or sociallogin.state.get("process") != AuthProcess.LOGIN:
            # Only the plain login flow exists: no "connect another account" page is offered.
            raise ImmediateHttpResponse(render_login_refused(request, kind="sso", detail="parcours non prévu"))
        identity = psc_identity((sociallogin.account.extra_data or {}).get("userinfo") or {})
        try:
            pharmacy = services.psc_login_resolve(identity=identity, chosen_finess=sociallogin.state.get("psc_finess"))
        except services.PscLoginRefused as refusal:
            services.login_refusal_record(identity=identity, reason=str(refusal.kind), detail=refusal.detail)
            raise ImmediateHttpResponse(
                render_login_refused(request, kind=str(refusal.kind), detail=refusal.detail, identity=identity)
            ) from None
        except services.PharmacyChoiceRequired as choice:
            raise ImmediateHttpResponse(self._ask_for_pharmacy(request, sociallogin, choice.pharmacies)) from None

        actor = Actor(user=None, label=identity.label)
        user = services.pharmacy_account_get_or_create(pharmacy=pharmacy, actor=actor)
        if sociallogin.is_existing:
            if sociallogin.user.pk != user.pk:
                # The person now orders for another officine (they moved): their identity follows them.
                SocialAccount.objects.filter(pk=sociallogin.account.pk).update(user=user)
                sociallogin.account.user = user
                sociallogin.user = user
        else:
            sociallogin.connect(request, user)
            from vaccine_orders.audit.services import audit_record

            audit_record(
                actor=Actor(user=user, label=identity.label),
                action="accounts.psc_identity_linked",
                target=user,
                pharmacy=pharmacy,
                summary=f"{identity.display_name} (RPPS {identity.rpps}) est rattaché(e) au compte de l'officine.",
            )
        sociallogin.state["psc_id_token"] = getattr(sociallogin, "psc_id_token", "") or sociallogin.state.get(
            "psc_id_token", ""
        )

    def _ask_for_pharmacy(self, request: HttpRequest, sociallogin: SocialLogin, pharmacies: list) -> HttpResponse:
        """Keep the checked login (a fresh, unsaved copy) in the session and ask which officine to open."""
        fresh = sociallogin.provider.sociallogin_from_response(request, sociallogin.account.extra_data)
        fresh.state = {
            **sociallogin.state,
            "psc_id_token": getattr(sociallogin, "psc_id_token", "") or sociallogin.state.get("psc_id_token", ""),
        }
        request.session[SESSION_PENDING_CHOICE_KEY] = {
            "sociallogin": fresh.serialize(),
            "finess": [p.finess for p in pharmacies],
        }
        return redirect("psc_choose_pharmacy")

    def validate_disconnect(self, account, accounts) -> None:
        from django.core.exceptions import ValidationError

        raise ValidationError("Les identités Pro Santé Connect d'une officine ne se détachent pas ici.")


class MFAAdapter(DefaultMFAAdapter):
    """TOTP secrets and recovery-code seeds are stored encrypted (allauth keeps them in clear by default), with a
    key derived from SECRET_KEY: changing SECRET_KEY means every agent enrols TOTP again."""

    def _fernet(self) -> Any:
        import base64
        import hashlib

        from cryptography.fernet import Fernet
        from django.conf import settings

        digest = hashlib.sha256(b"accounts.mfa.v1:" + settings.SECRET_KEY.encode()).digest()
        return Fernet(base64.urlsafe_b64encode(digest))

    def encrypt(self, text: str) -> str:
        return self._fernet().encrypt(text.encode()).decode()

    def decrypt(self, encrypted_text: str) -> str:
        return self._fernet().decrypt(encrypted_text.encode()).decode()
