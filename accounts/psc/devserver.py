"""A real OpenID Connect provider on loopback that speaks like Pro Santé Connect, for `make run` and the tests.

Built on oidc-provider-mock (a development dependency: never imported by the production code paths). It adds
what PSC does differently: the discovery document at /.well-known/wallet-openid-configuration, and a French
page where a person picks one of the demo identities (titulaire, co-titulaire, adjoint, médecin, FINESS
inconnu) instead of typing claims. The provider signs ID tokens with its own RSA key (JWKS), echoes the nonce,
and copies the identities' claims (``acr`` included) into the ID token and userinfo.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import flask
    import werkzeug.serving

    from .identities import DemoIdentity

WALLET_DISCOVERY_PATH = "/.well-known/wallet-openid-configuration"
STANDARD_DISCOVERY_PATH = "/.well-known/openid-configuration"
TEMPLATES = Path(__file__).resolve().parent / "devserver_templates"


class _WalletDiscovery:
    """Serve PSC's discovery path with the provider's standard document."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == WALLET_DISCOVERY_PATH:
            environ = {**environ, "PATH_INFO": STANDARD_DISCOVERY_PATH}
        return self.app(environ, start_response)


def create_app(*, identities: Sequence[DemoIdentity] = (), require_nonce: bool = True) -> flask.Flask:
    """The provider as a Flask app, not yet serving (tests add their own hooks before `serve`)."""
    import warnings

    import flask

    with warnings.catch_warnings():
        # authlib warns about its own modules that oidc-provider-mock imports; nothing we can act on.
        warnings.simplefilter("ignore", DeprecationWarning)
        from oidc_provider_mock import User, init_app

    app = flask.Flask("psc_demo", template_folder=str(TEMPLATES))
    init_app(app, require_nonce=require_nonce, user_claims=[User(sub=i.sub, claims=i.claims) for i in identities])
    # init_app turns on Werkzeug's interactive debugger: never on a port a browser can reach.
    app.debug = False
    app.wsgi_app = _WalletDiscovery(getattr(app.wsgi_app, "app", app.wsgi_app))
    app.secret_key = secrets.token_bytes(16)
    app.jinja_env.globals["identities_by_sub"] = {i.sub: i for i in identities}
    return app


def start(app: flask.Flask, *, host: str = "localhost", port: int = 0) -> werkzeug.serving.BaseWSGIServer:
    """Serve in a daemon thread (rundemo: it dies with the web server)."""
    import werkzeug.serving

    server = werkzeug.serving.make_server(host, port, app, threaded=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    return server


@contextmanager
def serve(app: flask.Flask, *, host: str = "localhost", port: int = 0) -> Iterator[werkzeug.serving.BaseWSGIServer]:
    server = start(app, host=host, port=port)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def base_url(server: werkzeug.serving.BaseWSGIServer, host: str = "localhost") -> str:
    return f"http://{host}:{server.server_port}"


def start_demo_provider(server_url: str) -> werkzeug.serving.BaseWSGIServer | None:
    """`make run`: serve the demo PSC at PSC_SERVER_URL when it points at this machine, with the demo
    identities. Returns None (and the caller says so) when the URL is remote or the port is taken."""
    from urllib.parse import urlsplit

    from .identities import demo_identities

    parts = urlsplit(server_url)
    if parts.hostname not in ("localhost", "127.0.0.1") or not parts.port:
        return None
    return start(create_app(identities=demo_identities()), host=parts.hostname, port=parts.port)
