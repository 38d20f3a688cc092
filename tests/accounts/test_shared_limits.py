"""Login rate limits live in the shared cache (Redis in production): a limit reached through one worker
process holds in another."""

from __future__ import annotations

import os
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

import pytest
from allauth.account.models import EmailAddress

from tests import factories
from vaccine_orders.portal.models import ServiceSettings

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

# The Redis database numbers of the accounts tests (1 and 2), whatever REDIS_URL's own number.
REDIS_DB = 1


def _redis_url(settings) -> str:
    if not settings.TEST_REDIS_URL:
        pytest.skip("needs REDIS_URL")
    return urlunsplit(urlsplit(settings.TEST_REDIS_URL)._replace(path=f"/{REDIS_DB}"))


def test_a_code_limit_reached_in_another_process_holds_here(client, settings):
    url = _redis_url(settings)
    settings.CACHES = {"default": {"BACKEND": "vaccine_orders.cache.RedisCache", "LOCATION": url}}
    from django.core.cache import caches

    caches["default"].clear()
    ServiceSettings.objects.update_or_create(pk=1, defaults={"psc_unavailable": True})
    user = factories.PharmacyUserFactory(pharmacy=factories.PharmacyFactory(email="officine@example.org"))
    EmailAddress.objects.create(user=user, email="officine@example.org", verified=True, primary=True)

    # Another worker: three code requests for this address (allauth's counter, keyed by the address).
    script = (
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "settings.CACHES = {'default': {'BACKEND': 'vaccine_orders.cache.RedisCache',"
        f" 'LOCATION': {url!r}}}}}\n"
        "from django.test import RequestFactory\n"
        "from allauth.core import ratelimit\n"
        "request = RequestFactory().post('/accounts/login/code/', REMOTE_ADDR='198.51.100.7')\n"
        "key = 'officine@example.org'\n"
        "print([ratelimit.consume(request, action='request_login_code', key=key) for _ in range(3)])\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "vaccine_orders.settings.test"}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[True, True, True]"

    try:
        response = client.post("/accounts/login/code/", {"email": "officine@example.org"})
        assert response.status_code == 200  # refused here, though this process never counted anything
        assert "trop" in response.content.decode().lower()
    finally:
        caches["default"].clear()
