"""The security settings of vaccine_orders.settings.production, read in a subprocess with dummy variables (importing
the module here would change the test settings' shared dicts), to be applied in tests with override_settings."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from typing import Any

from csp.constants import NONCE

NONCE_MARKER = "<csp-nonce>"

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "vaccine_orders.settings.production",
    "SECRET_KEY": "contrôle-" + "x" * 60,
    "DATABASE_URL": "postgres://u@127.0.0.1:5432/db",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "ALLOWED_HOSTS": "commande-vaccins.example",
    "EMAIL_URL": "smtp://127.0.0.1:25",
    "PSC_SERVER_URL": "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet",
    "PSC_CLIENT_ID": "client",
    "PSC_CLIENT_SECRET": "secret",
}

SECURITY_SETTINGS = [
    "DEBUG",
    "SECURE_SSL_REDIRECT",
    "SECURE_REDIRECT_EXEMPT",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY",
    "SECURE_CROSS_ORIGIN_OPENER_POLICY",
    "X_FRAME_OPTIONS",
    "SESSION_COOKIE_NAME",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "SESSION_COOKIE_AGE",
    "SESSION_EXPIRE_AT_BROWSER_CLOSE",
    "CSRF_COOKIE_NAME",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_HTTPONLY",
    "CSRF_COOKIE_SAMESITE",
    "CONTENT_SECURITY_POLICY",
    "LOGGING",
]


def clean_environment() -> dict[str, str]:
    drop = {*PRODUCTION_ENV, "DJANGO_READ_DOT_ENV_FILE"}
    return {key: value for key, value in os.environ.items() if key not in drop}


@functools.cache
def production_settings() -> dict[str, Any]:
    # django-csp's NONCE placeholder is an object: it travels as a marker and comes back as itself.
    script = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"values = {{k: getattr(settings, k) for k in {SECURITY_SETTINGS!r}}}; "
        f"print(json.dumps(values, default=lambda o: {NONCE_MARKER!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**clean_environment(), **PRODUCTION_ENV},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    values["SECURE_PROXY_SSL_HEADER"] = tuple(values["SECURE_PROXY_SSL_HEADER"])
    directives = values["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]
    for name, sources in directives.items():
        directives[name] = [NONCE if source == NONCE_MARKER else source for source in sources]
    return values


def production_overrides() -> dict[str, Any]:
    """What to give override_settings: the production values, except the logging (tests keep theirs)."""
    return {key: value for key, value in production_settings().items() if key not in ("LOGGING", "DEBUG")}
