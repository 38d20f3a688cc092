"""Response headers and cookies with the production settings: HTTPS only (redirect, HSTS), CSP without inline
scripts, frame denial, Referrer-Policy, nosniff, secure + HttpOnly + SameSite cookies, and `check --deploy`."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from django.test import Client, override_settings

from .production import PRODUCTION_ENV, clean_environment, production_overrides, production_settings

pytestmark = pytest.mark.django_db

HTTPS = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_HOST": "commande-vaccins.example"}


@pytest.fixture
def production(settings):
    with override_settings(ALLOWED_HOSTS=["commande-vaccins.example", "testserver"], **production_overrides()):
        yield production_settings()


def test_production_is_https_only_with_hsts_for_a_year(production):
    assert production["DEBUG"] is False
    insecure = Client().get("/aide/", HTTP_HOST="commande-vaccins.example")
    assert insecure.status_code == 301
    assert insecure["Location"] == "https://commande-vaccins.example/aide/"

    response = Client().get("/aide/", **HTTPS)
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


def test_the_load_balancer_probe_is_answered_over_http(production):
    response = Client().get("/healthz", HTTP_HOST="commande-vaccins.example")
    assert response.status_code in (200, 503)  # answered, not redirected to HTTPS
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("path", ["/", "/aide/", "/support/", "/accounts/login/", "/calendrier/"])
def test_every_page_carries_the_security_headers(production, path):
    response = Client().get(path, **HTTPS)
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])

    policy = {
        directive.split()[0]: directive.split()[1:] for directive in response["Content-Security-Policy"].split(";")
    }
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"][0] == "'self'"
    assert re.fullmatch(r"'nonce-[A-Za-z0-9+/=_-]+'", policy["script-src"][1])
    assert policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    # The PSC login button and logout post to PSC's hosts, and nowhere else.
    assert policy["form-action"] == [
        "'self'",
        "https://auth.esw.esante.gouv.fr",
        "https://wallet.esw.esante.gouv.fr",
    ]


def test_each_response_has_its_own_nonce(production):
    first = Client().get("/", **HTTPS)["Content-Security-Policy"]
    second = Client().get("/", **HTTPS)["Content-Security-Policy"]
    assert first != second


def test_session_and_csrf_cookies_are_secure_httponly_and_samesite(production, user_a):
    client = Client()
    client.force_login(user_a)
    response = client.get("/support/", **HTTPS)  # a page with a form: the CSRF cookie is set
    assert response.status_code == 200
    session = response.cookies["__Secure-sessionid"]
    csrf = response.cookies["__Secure-csrftoken"]
    for cookie in (session, csrf):
        assert cookie["secure"] is True
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Lax"
        assert cookie["path"] == "/"
    # Thirty minutes of inactivity end the session, and closing the browser ends it (no Max-Age, no Expires).
    assert production["SESSION_COOKIE_AGE"] == 30 * 60
    assert session["max-age"] == "" and session["expires"] == ""


def test_the_request_id_of_the_load_balancer_is_echoed(production):
    response = Client().get("/aide/", HTTP_X_REQUEST_ID="lb-1234-abcd", **HTTPS)
    assert response["X-Request-ID"] == "lb-1234-abcd"
    # A value that could forge log lines is replaced by a fresh id.
    forged = Client().get("/aide/", HTTP_X_REQUEST_ID="x" * 200, **HTTPS)
    assert re.fullmatch(r"[0-9a-f]{32}", forged["X-Request-ID"])


def test_check_deploy_is_clean_with_the_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env={**clean_environment(), **PRODUCTION_ENV},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
