"""The public form without a third-party captcha: honeypot, signed timestamp token, rate limits."""

from datetime import timedelta

import pytest
import time_machine
from bs4 import BeautifulSoup
from django.core import mail
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone

from vaccine_orders.portal import antispam
from vaccine_orders.portal.models import SupportRequest

pytestmark = pytest.mark.django_db

URL = "/support/"


def errors_of(response) -> str:
    return BeautifulSoup(response.content, "html.parser").select_one("#erreurs-formulaire").get_text(" ", strip=True)


def test_a_filled_honeypot_is_refused_and_nothing_is_saved(client, anonymous_data):
    response = client.post(URL, anonymous_data(site_web="https://spam.example"))
    assert response.status_code == 400
    assert "n'a pas pu être envoyée" in errors_of(response)
    assert not SupportRequest.objects.exists()
    assert mail.outbox == []


def test_the_honeypot_is_hidden_from_people_and_screen_readers(client):
    page = BeautifulSoup(client.get(URL).content, "html.parser")
    trap = page.select_one("input[name=site_web]")
    wrapper = trap.find_parent("div")
    assert "cv-hp" in wrapper["class"]
    assert wrapper["aria-hidden"] == "true"
    assert trap["tabindex"] == "-1"
    assert trap["autocomplete"] == "off"


def test_a_form_posted_too_fast_is_refused(client, anonymous_data, token):
    response = client.post(URL, anonymous_data(jeton=token(seconds_ago=1)))
    assert response.status_code == 400
    assert "trop vite" in errors_of(response)
    assert not SupportRequest.objects.exists()


def test_the_form_served_by_get_can_be_posted_after_a_human_delay(client, anonymous_data):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        served = BeautifulSoup(client.get(URL).content, "html.parser").select_one("input[name=jeton]")["value"]
        assert client.post(URL, anonymous_data(jeton=served)).status_code == 400  # same second: a robot
    with time_machine.travel(start + timedelta(seconds=20), tick=False):
        assert client.post(URL, anonymous_data(jeton=served)).status_code == 302
    assert SupportRequest.objects.count() == 1


def test_an_expired_form_is_refused_with_a_fresh_token_to_send_again(client, anonymous_data, token, settings):
    old = token(seconds_ago=settings.SUPPORT_FORM_MAX_AGE_SECONDS + 5)
    response = client.post(URL, anonymous_data(jeton=old))
    assert response.status_code == 400
    assert "expiré" in errors_of(response)
    fresh = BeautifulSoup(response.content, "html.parser").select_one("input[name=jeton]")["value"]
    assert fresh != old
    # What the person typed is still there.
    assert "La connexion échoue" in response.content.decode()


@pytest.mark.parametrize("forged", ["", "abc", "eyJuIjoiYSIsInQiOjF9:forged:signature"])
def test_a_missing_or_forged_token_is_refused(client, anonymous_data, forged):
    response = client.post(URL, anonymous_data(jeton=forged))
    assert response.status_code == 400
    assert "n'a pas pu être vérifié" in errors_of(response)
    assert not SupportRequest.objects.exists()


def test_a_replayed_submission_is_refused_and_creates_one_request(client, anonymous_data):
    data = anonymous_data()
    assert client.post(URL, data).status_code == 302
    again = client.post(URL, data)  # a double click on "Envoyer", or a robot replaying the post
    assert again.status_code == 400
    assert "déjà été envoyée" in errors_of(again)
    assert SupportRequest.objects.count() == 1


def test_a_form_with_an_error_keeps_its_token_until_it_is_sent(client, anonymous_data):
    data = anonymous_data(message="")
    assert client.post(URL, data).status_code == 400  # a mistake: the token is not used up
    data["message"] = "Voici mon message."
    assert client.post(URL, data).status_code == 302


@override_settings(SUPPORT_RATE_LIMIT_PER_IP=2)
def test_the_form_is_rate_limited_per_ip_address(client, anonymous_data):
    for n in range(2):
        assert client.post(URL, anonymous_data(email=f"p{n}@example.org"), REMOTE_ADDR="203.0.113.7").status_code == 302
    response = client.post(URL, anonymous_data(email="p3@example.org"), REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 429
    assert "trop de demandes" in errors_of(response)
    assert SupportRequest.objects.count() == 2
    # Another address is not affected.
    assert client.post(URL, anonymous_data(email="p4@example.org"), REMOTE_ADDR="198.51.100.1").status_code == 302


@override_settings(SUPPORT_RATE_LIMIT_PER_EMAIL=2)
def test_the_form_is_rate_limited_per_email_address_whatever_the_ip(client, anonymous_data):
    for n in range(2):
        response = client.post(URL, anonymous_data(email="Same@Example.org"), REMOTE_ADDR=f"203.0.113.{n}")
        assert response.status_code == 302
    refused = anonymous_data(email="same@example.org")
    response = client.post(URL, refused, REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 429
    assert "trop de demandes" in errors_of(response)
    assert SupportRequest.objects.count() == 2
    # An hour later the same form goes through: the refusal did not use its token up.
    with time_machine.travel(timezone.now() + timedelta(hours=1, minutes=1), tick=False):
        assert client.post(URL, refused, REMOTE_ADDR="203.0.113.9").status_code == 302


@override_settings(SUPPORT_RATE_LIMIT_PER_IP=1)
def test_the_limit_resets_with_the_next_window(client, anonymous_data):
    start = timezone.now().replace(minute=0, second=30)
    with time_machine.travel(start, tick=False):
        assert client.post(URL, anonymous_data(email="a@example.org")).status_code == 302
        assert client.post(URL, anonymous_data(email="b@example.org")).status_code == 429
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        assert client.post(URL, anonymous_data(email="c@example.org")).status_code == 302


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_behind_a_proxy_the_address_it_saw_is_used_not_the_forgeable_one(rf):
    request = rf.post(URL, HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.50", REMOTE_ADDR="10.0.0.2")
    assert antispam.client_ip(request) == "203.0.113.50"


def test_without_a_trusted_proxy_x_forwarded_for_is_ignored(rf):
    request = rf.post(URL, HTTP_X_FORWARDED_FOR="6.6.6.6", REMOTE_ADDR="203.0.113.50")
    assert antispam.client_ip(request) == "203.0.113.50"


def test_the_counters_live_in_the_shared_cache():
    assert antispam.rate_limit_allows(scope="t", key="k", limit=1, window_seconds=60)
    assert [key for key in cache._cache if "ratelimit:t:" in key]  # locmem in tests, Redis in production


@pytest.mark.redis
def test_limits_and_used_tokens_are_shared_between_processes(settings):
    """Two cache clients on the same Redis database stand for two gunicorn workers."""
    if not settings.TEST_REDIS_URL:
        pytest.skip("needs REDIS_URL")
    from django.core.cache.backends.redis import RedisCache

    def worker_cache():
        return RedisCache(settings.TEST_REDIS_URL, {"KEY_PREFIX": "cv-test-portal"})

    first, second = worker_cache(), worker_cache()
    first.clear()
    try:
        from unittest import mock

        with mock.patch.object(antispam, "cache", first):
            assert antispam.rate_limit_allows(scope="support-ip", key="203.0.113.1", limit=2, window_seconds=60)
            assert antispam.form_token_consume("nonce-1")
        with mock.patch.object(antispam, "cache", second):
            assert antispam.rate_limit_allows(scope="support-ip", key="203.0.113.1", limit=2, window_seconds=60)
            assert not antispam.rate_limit_allows(scope="support-ip", key="203.0.113.1", limit=2, window_seconds=60)
            assert not antispam.form_token_consume("nonce-1")
    finally:
        first.clear()
