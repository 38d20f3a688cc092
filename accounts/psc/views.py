"""The PSC authorization code flow: discovery (cached), token, ID token and userinfo checks.

Every check failure raises `PscLoginError`, a ProviderException: allauth's callback view turns it into an
authentication error, which our social adapter renders as the French "Problème technique SSO
d'authentification" page. Nothing is written before these checks pass.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import jwt
from allauth.decorators import rate_limit
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.models import SocialApp, SocialToken
from allauth.socialaccount.providers.base import ProviderException
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from allauth.utils import build_absolute_uri
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from requests import RequestException

logger = logging.getLogger(__name__)

PROVIDER_ID = "prosanteconnect"
# Asymmetric algorithms are checked against PSC's published keys, HMAC ones against the client secret (as ANS's
# own Keycloak connector does). "none" is never accepted.
ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"})
HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
CLOCK_SKEW_SECONDS = 60


class PscLoginError(ProviderException):
    """A PSC answer that does not pass our checks. `reason` is for the logs and the audit journal."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _cache_seconds() -> int:
    return getattr(settings, "PSC_DISCOVERY_CACHE_SECONDS", 3600)


class PSCOAuth2Adapter(OpenIDConnectOAuth2Adapter):
    expected_nonce: str | None = None

    def __init__(self, request: HttpRequest) -> None:
        super().__init__(request, PROVIDER_ID)

    # --- discovery and keys, cached (allauth fetches the discovery document on every request) ----------

    @property
    def openid_config(self) -> dict[str, Any]:
        if not hasattr(self, "_openid_config"):
            provider = self.get_provider()
            key = f"psc:discovery:{provider.server_url}"
            config = cache.get(key)
            if config is None:
                with get_adapter().get_requests_session() as session:
                    response = session.get(provider.server_url)
                    response.raise_for_status()
                    config = response.json()
                missing = {"issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"} - set(config)
                if missing:
                    raise PscLoginError(f"document de découverte incomplet : {', '.join(sorted(missing))}")
                cache.set(key, config, _cache_seconds())
            config = {**config, **provider.app.settings.get("openid_configuration_overrides", {})}
            self._openid_config = config
        return self._openid_config

    def _jwks(self, *, refresh: bool = False) -> dict[str, Any]:
        uri = self.openid_config["jwks_uri"]
        key = f"psc:jwks:{uri}"
        keys = None if refresh else cache.get(key)
        if keys is None:
            with get_adapter().get_requests_session() as session:
                response = session.get(uri)
                response.raise_for_status()
                keys = response.json()
            cache.set(key, keys, _cache_seconds())
        return keys

    def _verification_key(self, token: str, app: SocialApp) -> tuple[Any, str]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise PscLoginError(f"jeton illisible : {exc}") from exc
        alg = header.get("alg", "")
        if alg in HMAC_ALGORITHMS:
            return app.secret, alg
        if alg not in ASYMMETRIC_ALGORITHMS:
            raise PscLoginError(f"algorithme de signature refusé : {alg or 'aucun'}")
        kid = header.get("kid")
        algorithm = jwt.algorithms.get_default_algorithms()[alg]
        for refresh in (False, True):  # a key PSC just rotated is not in our cached copy yet
            candidates = [k for k in self._jwks(refresh=refresh).get("keys", []) if kid is None or k.get("kid") == kid]
            if len(candidates) == 1 or (candidates and kid is not None):
                return algorithm.from_jwk(json.dumps(candidates[0])), alg
        raise PscLoginError(f"clé de signature inconnue : {kid}")

    # --- the token response ---------------------------------------------------------------------

    def get_callback_url(self, request: HttpRequest, app: SocialApp) -> str:
        return build_absolute_uri(request, reverse(f"{PROVIDER_ID}_callback"), self.redirect_uri_protocol)

    def complete_login(self, request: HttpRequest, app: SocialApp, token: SocialToken, **kwargs: Any):
        raw_id_token = (kwargs.get("response") or {}).get("id_token")
        if not raw_id_token:
            raise PscLoginError("pas de jeton d'identité dans la réponse du point de jeton")
        id_token = self._decode_id_token(app, raw_id_token)
        provider = self.get_provider()
        if not self.expected_nonce or not constant_time_compare(str(id_token.get("nonce", "")), self.expected_nonce):
            raise PscLoginError("nonce du jeton d'identité différent de celui de la demande")
        if id_token.get("acr") != provider.required_acr:
            raise PscLoginError(
                f"niveau d'authentification {id_token.get('acr') or 'absent'} (attendu : {provider.required_acr})"
            )
        userinfo = self._fetch_user_info(token.token, app=app)
        if userinfo.get("sub") is not None and userinfo.get("sub") != id_token.get("sub"):
            raise PscLoginError("le « sub » de userinfo ne correspond pas à celui du jeton d'identité")
        login = provider.sociallogin_from_response(request, {"userinfo": userinfo, "id_token": id_token})
        # Kept for RP-initiated logout (id_token_hint); copied into the session after login.
        login.psc_id_token = raw_id_token
        return login

    def _decode_id_token(self, app: SocialApp, id_token: str) -> dict[str, Any]:
        """Unlike allauth's code flow, the signature is always verified (PSC.md §3.2)."""
        key, alg = self._verification_key(id_token, app)
        try:
            data = jwt.decode(
                id_token,
                key=key,
                algorithms=[alg],
                issuer=self.openid_config["issuer"],
                audience=app.client_id,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["iss", "aud", "exp", "sub"]},
            )
            jwtkit.verify_jti(data)
        except (jwt.PyJWTError, OAuth2Error) as exc:
            raise PscLoginError(f"jeton d'identité refusé : {exc}") from exc
        return data

    def _fetch_user_info(self, access_token: str, app: SocialApp | None = None) -> dict[str, Any]:
        """Userinfo as JSON, or as a signed JWT (``application/jwt``), which is then verified."""
        headers = {"Authorization": f"Bearer {access_token}"}
        with get_adapter().get_requests_session() as session:
            response = session.get(self.profile_url, headers=headers)
            response.raise_for_status()
        content_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if content_type == "application/jwt":
            return self._decode_userinfo_jwt(response.text.strip(), app or self.get_provider().app)
        try:
            data = response.json()
        except ValueError as exc:
            raise PscLoginError("réponse userinfo illisible") from exc
        if not isinstance(data, dict):
            raise PscLoginError("réponse userinfo illisible")
        return data

    def _decode_userinfo_jwt(self, token: str, app: SocialApp) -> dict[str, Any]:
        key, alg = self._verification_key(token, app)
        try:
            # iss and aud are optional in a signed userinfo (OIDC Core 5.3.2): checked below when present.
            data = jwt.decode(
                token, key=key, algorithms=[alg], leeway=CLOCK_SKEW_SECONDS, options={"verify_aud": False}
            )
        except jwt.PyJWTError as exc:
            raise PscLoginError(f"userinfo signé refusé : {exc}") from exc
        if "iss" in data and data["iss"] != self.openid_config["issuer"]:
            raise PscLoginError("userinfo signé : émetteur inattendu")
        audience = data.get("aud")
        if audience is not None and app.client_id not in ([audience] if isinstance(audience, str) else audience):
            raise PscLoginError("userinfo signé : destinataire inattendu")
        return data


class PSCCallbackView(OAuth2CallbackView):
    def _get_state(self, request: HttpRequest, provider):
        state, response = super()._get_state(request, provider)
        if state is not None:
            self.adapter.expected_nonce = state.get("nonce")
        return state, response


@rate_limit(action="login")
def login(request: HttpRequest) -> HttpResponse:
    """The "Se connecter avec Pro Santé Connect" button (POST): redirect to PSC's authorization endpoint."""
    view = OAuth2LoginView.adapter_view(PSCOAuth2Adapter)
    try:
        return view(request)
    except (RequestException, PscLoginError, ValueError) as exc:
        # PSC's discovery document cannot be read: PSC is down or misconfigured.
        from accounts.views import render_login_refused

        logger.warning("Pro Santé Connect injoignable : %s", exc)
        return render_login_refused(request, kind="unavailable", detail=str(exc))


def callback(request: HttpRequest) -> HttpResponse:
    return PSCCallbackView.adapter_view(PSCOAuth2Adapter)(request)
