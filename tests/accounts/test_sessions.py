"""Sessions: 30 minutes of inactivity end them; secure cookies in production."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

pytestmark = pytest.mark.django_db


def test_thirty_minutes_of_inactivity_end_the_session(client_a):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        assert client_a.get("/compte/").status_code == 200
        traveller.shift(timedelta(minutes=29))
        assert client_a.get("/compte/").status_code == 200  # activity pushes the end back
        traveller.shift(timedelta(minutes=29))
        assert client_a.get("/compte/").status_code == 200
        traveller.shift(timedelta(minutes=31))
        response = client_a.get("/compte/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_session_cookie_ends_with_the_browser(client_a):
    response = client_a.get("/compte/")
    cookie = response.cookies["sessionid"]
    assert not cookie["expires"] and not cookie["max-age"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


def test_production_cookies_are_secure():
    from tests.test_settings import PROD_ENV

    clean = {k: v for k, v in os.environ.items() if k not in PROD_ENV and k != "DJANGO_READ_DOT_ENV_FILE"}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.SESSION_COOKIE_AGE, "
            "s.CONTENT_SECURITY_POLICY['DIRECTIVES']['form-action'])",
        ],
        env={**clean, **PROD_ENV},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    secure, csrf_secure, httponly, age, form_action = result.stdout.split(" ", 4)
    assert (secure, csrf_secure, httponly, age) == ("True", "True", "True", "1800")
    # The PSC button's redirect leaves for PSC's realm host and its wallet (authorization) host.
    assert "https://auth.esw.esante.gouv.fr" in form_action and "https://wallet.esw.esante.gouv.fr" in form_action
