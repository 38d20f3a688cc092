"""Pro Santé Connect as a django-allauth provider.

allauth's generic OpenID Connect provider lacks what PSC needs (research note PSC.md §3.2): PSC's own discovery
path, a nonce, the ``acr`` check, the ID token signature check in the code flow, signed userinfo and the discovery
cache. This subclass keeps allauth's flow (state, PKCE, SocialAccount) and adds them; the checks live in the
OAuth2 adapter (accounts.psc.views).
"""

from __future__ import annotations

from typing import Any

from allauth.socialaccount.providers.base import ProviderException
from allauth.socialaccount.providers.oauth2.provider import OAuth2Provider
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider, _pick_data
from django.http import HttpRequest
from django.utils.crypto import get_random_string

from .claims import psc_identity
from .views import PSCOAuth2Adapter

PSC_DISCOVERY_PATH = "/.well-known/wallet-openid-configuration"


class ProSanteConnectProvider(OpenIDConnectProvider):
    id = "prosanteconnect"
    name = "Pro Santé Connect"
    slug = "psc"
    # allauth imports "<package>.urls" for the provider's URLs (/accounts/psc/login/...).
    package = "accounts.psc"
    oauth2_adapter_class = PSCOAuth2Adapter
    pkce_enabled_default = True

    @property
    def server_url(self) -> str:
        """PSC publishes its discovery document at a non-standard path of the realm."""
        url = self.app.settings["server_url"].rstrip("/")
        if "/.well-known/" not in url:
            url += PSC_DISCOVERY_PATH
        return url

    @property
    def required_acr(self) -> str:
        return self.app.settings.get("acr", "eidas1")

    def get_login_url(self, request: HttpRequest, **kwargs: Any) -> str:
        return OAuth2Provider.get_login_url(self, request, **kwargs)

    def get_callback_url(self) -> str:
        return OAuth2Provider.get_callback_url(self)

    def get_oauth2_adapter(self, request: HttpRequest) -> PSCOAuth2Adapter:
        return self.oauth2_adapter_class(request)

    def get_default_scope(self) -> list[str]:
        return ["openid", "scope_all"]

    def get_auth_params(self) -> dict[str, str]:
        params = super().get_auth_params()
        params.setdefault("acr_values", self.required_acr)
        return params

    # Scope and authorization parameters are ours alone: the query string of the login URL must not be able
    # to change them (allauth would merge ?scope= and ?auth_params= by default).
    def get_scope_from_request(self, request: HttpRequest) -> list[str]:
        return self.get_scope()

    def get_auth_params_from_request(self, request: HttpRequest, action: str) -> dict[str, str]:
        return self.get_auth_params()

    def redirect(self, request: HttpRequest, process, next_url=None, data=None, **kwargs: Any):
        """A fresh nonce per authorization request, kept in allauth's one-shot state to be compared with the
        ID token's (accounts.psc.views.PSCOAuth2Adapter.complete_login)."""
        nonce = get_random_string(32)
        auth_params = kwargs.pop("auth_params", None)
        if auth_params is None:
            auth_params = self.get_auth_params()
        auth_params = {**auth_params, "nonce": nonce}
        return super().redirect(request, process, next_url, data, auth_params=auth_params, nonce=nonce, **kwargs)

    def extract_uid(self, data: dict) -> str:
        uid = str(_pick_data(data).get(self.app.settings.get("uid_field", "SubjectNameID")) or "").strip()
        if not uid:
            raise ProviderException("Pro Santé Connect n'a pas transmis l'identifiant national du professionnel.")
        return uid

    def extract_common_fields(self, data: dict) -> dict[str, Any]:
        # The professional's own e-mail is not the officine's: the account's address is asked separately.
        identity = psc_identity(data.get("userinfo") or {})
        return {"first_name": identity.first_name, "last_name": identity.last_name}

    def extract_email_addresses(self, data: dict) -> list:
        return []


provider_classes = [ProSanteConnectProvider]
