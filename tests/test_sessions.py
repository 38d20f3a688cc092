"""Production sessions: Django's cache sessions in Redis, an unchanged session only has its expiry pushed back."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest
from django.contrib.sessions.backends.base import UpdateError
from django.http import HttpResponse
from django.test import RequestFactory

from tests.redis_commands import redis_commands
from vaccine_orders.cache import RedisCache
from vaccine_orders.sessions import SessionStore

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_sessions(settings, monkeypatch):
    if not settings.TEST_REDIS_URL:
        pytest.skip("needs REDIS_URL")
    backend = RedisCache(urlunsplit(urlsplit(settings.TEST_REDIS_URL)._replace(path="/4")), {"KEY_PREFIX": "t"})
    backend.clear()
    monkeypatch.setattr("django.contrib.sessions.backends.cache.caches", {settings.SESSION_CACHE_ALIAS: backend})
    client = backend._cache.get_client(write=True)
    with redis_commands(client) as commands:
        yield backend, client, commands
    backend.clear()


def _ttl(backend, client, store) -> int:
    return client.ttl(backend.make_and_validate_key(store.cache_key))


def test_an_unchanged_session_is_touched_not_written_again(redis_sessions, settings):
    backend, client, commands = redis_sessions
    created = SessionStore()
    created["actor_label"] = "Titulaire (Pro Santé Connect)"
    created.save()
    key = created.session_key
    client.expire(backend.make_and_validate_key(created.cache_key), 60)  # 29 minutes of inactivity later

    store = SessionStore(key)
    assert store["actor_label"] == "Titulaire (Pro Santé Connect)"  # the request reads it (one GET)
    commands.clear()
    store.save()
    assert commands == ["EXPIRE"]
    assert _ttl(backend, client, store) > 60  # the inactivity timeout starts again
    assert SessionStore(key)["actor_label"] == "Titulaire (Pro Santé Connect)"


def test_a_changed_session_is_written_whole(redis_sessions):
    _, _, commands = redis_sessions
    store = SessionStore()
    store["step"] = 1
    store.save()
    again = SessionStore(store.session_key)
    again["step"] = 2
    commands.clear()
    again.save()
    assert "SET" in commands and "EXPIRE" not in commands
    assert SessionStore(store.session_key)["step"] == 2


def test_a_session_deleted_meanwhile_is_not_brought_back(redis_sessions):
    store = SessionStore()
    store["x"] = 1
    store.save()
    current = SessionStore(store.session_key)
    assert current["x"] == 1
    SessionStore(store.session_key).delete()  # logged out in another tab
    with pytest.raises(UpdateError):
        current.save()
    assert not SessionStore().exists(store.session_key)


def test_the_middleware_still_answers_a_session_deleted_during_the_request_with_djangos_error(redis_sessions, settings):
    from django.contrib.sessions.exceptions import SessionInterrupted
    from django.contrib.sessions.middleware import SessionMiddleware

    settings.SESSION_ENGINE = "vaccine_orders.sessions"
    store = SessionStore()
    store["x"] = 1
    store.save()

    def view(request):
        assert request.session["x"] == 1
        SessionStore(store.session_key).delete()
        return HttpResponse("ok")

    request = RequestFactory().get("/", HTTP_COOKIE=f"{settings.SESSION_COOKIE_NAME}={store.session_key}")
    with pytest.raises(SessionInterrupted):
        SessionMiddleware(view)(request)
