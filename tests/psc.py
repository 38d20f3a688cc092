"""A real Pro Santé Connect-like OpenID Connect provider on loopback, for every test that logs in.

Fixtures (imported by tests/conftest.py):

- ``psc_server`` (session): the provider (accounts.psc.devserver on oidc-provider-mock) serving on a random
  localhost port, with the demo identities registered.
- ``psc`` (function): points the PSC settings at it and returns a `PscTestProvider`:
  ``psc.login(client, claims)`` drives the whole authorization code flow for a Django test client (POST of the
  login button → PSC's authorize page → callback) and returns the callback's response;
  ``psc.register(claims)`` adds a person; hooks let a test tamper with the token or userinfo answers.

Claims: ``accounts.psc.identities.psc_userinfo(...)`` / ``pharmacist_activity(...)``, or ``titulaire_claims``.

Agents: ``login_agent(client, user)`` logs an SpF / ARS agent in with a verified TOTP second factor.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import jwt
import pytest
import requests
from django.test import Client

from accounts.psc import devserver
from accounts.psc.identities import demo_identities, pharmacist_activity, psc_userinfo

CLIENT_ID = "commande-vaccins-test"
CLIENT_SECRET = "secret-de-test-assez-long-pour-hs256-0123456789"

Hook = Callable[[Any], Any]


class PscTestProvider:
    def __init__(self, app: Any, server: Any) -> None:
        self.app = app
        self.server = server
        self.url = devserver.base_url(server)
        self.hooks: dict[str, Hook] = {}

    # --- people --------------------------------------------------------------------------------

    def register(self, claims: dict[str, Any]) -> str:
        sub = claims["SubjectNameID"]
        response = requests.put(f"{self.url}/users/{sub}", json=claims, timeout=5)
        response.raise_for_status()
        return sub

    # --- the flow, step by step ----------------------------------------------------------------

    def start(self, client: Client, *, next_url: str | None = None) -> str:
        """Press the login button: returns PSC's authorization URL (with state, nonce, PKCE...)."""
        data = {"next": next_url} if next_url else {}
        response = client.post("/accounts/psc/login/", data)
        assert response.status_code == 302, response.content[:500]
        return response["Location"]

    def authorize(self, authorize_url: str, sub: str) -> str:
        """The person authenticates at PSC: returns the callback URL PSC redirects to."""
        response = requests.post(authorize_url, data={"sub": sub}, allow_redirects=False, timeout=5)
        assert response.status_code == 302, response.text[:500]
        return response.headers["Location"]

    def login(self, client: Client, claims: dict[str, Any], *, next_url: str | None = None, follow: bool = False):
        sub = self.register(claims)
        callback = self.authorize(self.start(client, next_url=next_url), sub)
        return client.get(callback, follow=follow)

    # --- tampering -----------------------------------------------------------------------------

    def on(self, path: str, hook: Hook) -> None:
        """Rewrite the provider's answer on `path` ("/oauth2/token", "/userinfo")."""
        self.hooks[path] = hook

    def signing_key(self) -> tuple[str, str | None]:
        """The provider's private key (PEM) and kid: only reachable inside a provider request."""
        import flask

        jwk = flask.g.oidc_provider_mock_storage.jwk
        return jwk.as_pem(is_private=True).decode(), jwk.as_dict().get("kid")


def with_query(url: str, **params: str) -> str:
    """`url` with some query parameters replaced (e.g. a forged nonce in the authorization request)."""
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(params)
    return urlunsplit(parts._replace(query=urlencode(query)))


def titulaire_claims(*, rpps: str, finess: str, first_name: str = "Claire", last_name: str = "Martin", **kw: Any):
    return psc_userinfo(
        rpps=rpps, first_name=first_name, last_name=last_name, activities=[pharmacist_activity(finess=finess, **kw)]
    )


def resign_id_token_with_foreign_key(response: Any) -> Any:
    """Token hook: the same ID token claims, signed with a key PSC never published (same kid)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    body = response.get_json()
    header = jwt.get_unverified_header(body["id_token"])
    claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = header.get("kid")
    body["id_token"] = jwt.encode(claims, foreign, algorithm="RS256", headers={"kid": kid} if kid else None)
    response.set_data(json.dumps(body))
    return response


def userinfo_as_jwt(provider: PscTestProvider, *, alg: str = "RS256", tamper: bool = False) -> Hook:
    """Userinfo hook: answer ``application/jwt`` signed with PSC's key (RS256) or the client secret (HS256);
    `tamper` changes a claim after signing (the signature no longer matches)."""

    def hook(response: Any) -> Any:
        import flask

        claims = {**response.get_json(), "iss": flask.request.host_url.rstrip("/"), "aud": CLIENT_ID}
        if alg.startswith("HS"):
            token = jwt.encode(claims, CLIENT_SECRET, algorithm=alg)
        else:
            pem, kid = provider.signing_key()
            token = jwt.encode(claims, pem, algorithm=alg, headers={"kid": kid} if kid else None)
        if tamper:
            head, payload, signature = token.split(".")
            forged = {**claims, "SubjectRefPro": {"exercices": []}}
            forged_payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
            token = f"{head}.{forged_payload}.{signature}"
            assert payload != forged_payload
        response.set_data(token)
        response.headers["Content-Type"] = "application/jwt"
        return response

    return hook


def psc_provider_settings(url: str) -> dict[str, Any]:
    return {
        "prosanteconnect": {
            "APPS": [
                {
                    "name": "Pro Santé Connect",
                    "client_id": CLIENT_ID,
                    "secret": CLIENT_SECRET,
                    "settings": {
                        "server_url": url,
                        "token_auth_method": "client_secret_basic",
                        "oauth_pkce_enabled": True,
                        "uid_field": "SubjectNameID",
                        "scope": ["openid", "scope_all"],
                        "acr": "eidas1",
                    },
                }
            ]
        }
    }


@pytest.fixture(scope="session")
def psc_server() -> Iterator[PscTestProvider]:
    import logging

    import flask

    # One access-log line per provider request would drown the test output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = devserver.create_app(identities=demo_identities())
    holder: dict[str, PscTestProvider] = {}

    @app.after_request
    def _tamper(response: Any) -> Any:
        provider = holder.get("provider")
        hook = provider.hooks.get(flask.request.path) if provider else None
        return hook(response) if hook else response

    with devserver.serve(app) as server:
        provider = PscTestProvider(app, server)
        holder["provider"] = provider
        yield provider


@pytest.fixture
def psc(psc_server: PscTestProvider, settings: Any) -> Iterator[PscTestProvider]:
    settings.PSC_SERVER_URL = psc_server.url
    settings.PSC_CLIENT_ID = CLIENT_ID
    settings.PSC_CLIENT_SECRET = CLIENT_SECRET
    settings.SOCIALACCOUNT_PROVIDERS = psc_provider_settings(psc_server.url)
    # As vaccine_orders/settings/base.py does for PSC_SERVER_URL: the browser may follow the login form's
    # redirect to PSC (Chromium enforces form-action on redirects).
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    policy["DIRECTIVES"]["form-action"] = [*policy["DIRECTIVES"]["form-action"], psc_server.url]
    settings.CONTENT_SECURITY_POLICY = policy
    psc_server.hooks.clear()
    yield psc_server
    psc_server.hooks.clear()


# --- browser tests -------------------------------------------------------------------------------------


def psc_browser_login(page: Any, base_url: str, *, who: str = "Claire MARTIN – pharmacienne titulaire") -> None:
    """In a Playwright page: press the PSC button, pick a demo identity at the demo PSC, wait to be back.

    Needs the `psc` fixture, `live_server` and a transactional database; the demo identities (accounts.psc.
    identities) use vaccine_orders.demo's FINESS and RPPS, so the test creates (or seeds) that officine and its
    authorities. With an officine address not yet verified, the first-login e-mail dialog comes next.
    """
    import re

    page.goto(f"{base_url}/accounts/login/")
    page.get_by_role("button", name="Se connecter avec Pro Santé Connect").click()
    page.get_by_role("button", name=re.compile(re.escape(who))).click()
    page.wait_for_url(re.compile("^" + re.escape(base_url)))


# --- agents (SpF staff, ARS): e-mail + password + TOTP ------------------------------------------------


def login_agent(client: Client, user: Any) -> Client:
    """Log an agent in as if through the agents' page and the TOTP step: a TOTP authenticator exists and the
    session records the second factor (accounts.access.second_factor_verified)."""
    from allauth.account.internal.flows.login import (
        _AUTHENTICATION_METHODS_USER_SESSION_KEY,
        AUTHENTICATION_METHODS_SESSION_KEY,
    )
    from allauth.account.internal.userkit import user_id_to_str
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
        TOTP.activate(user, generate_totp_secret())
    client.force_login(user)
    session = client.session
    session[AUTHENTICATION_METHODS_SESSION_KEY] = [
        {"method": "password", "at": 0, "email": user.email},
        {"method": "mfa", "at": 0, "type": "totp"},
    ]
    session[_AUTHENTICATION_METHODS_USER_SESSION_KEY] = user_id_to_str(user)
    session.save()
    return client
