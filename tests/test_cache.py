"""The production cache backend: Django's Redis cache, reusing one redis-py client per connection pool."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.redis_commands import redis_commands
from vaccine_orders.cache import RedisCache

pytestmark = pytest.mark.redis

REDIS_DB = 3  # a database of its own, whatever REDIS_URL's number


def _url(settings) -> str:
    return urlunsplit(urlsplit(settings.TEST_REDIS_URL)._replace(path=f"/{REDIS_DB}"))


@pytest.fixture
def cache(settings):
    if not settings.TEST_REDIS_URL:
        pytest.skip("needs REDIS_URL")
    backend = RedisCache(_url(settings), {"KEY_PREFIX": "test-cache"})
    backend.clear()
    yield backend
    backend.clear()


def test_operations_share_one_client_per_pool(cache):
    client = cache._cache.get_client(write=True)
    cache.set("a", {"x": 1}, 30)
    assert cache.get("a") == {"x": 1}
    assert cache.add("counter", 0, 30)
    assert cache.incr("counter") == 1
    assert cache.get_many(["a", "counter"]) == {"a": {"x": 1}, "counter": 1}
    cache.delete("a")
    assert cache.get("a") is None
    # Every operation above went through the same redis-py client (Django builds one per operation).
    assert cache._cache.get_client(write=True) is client
    assert cache._cache.get_client(write=False) is client  # one server: reads use the same pool
    assert client.connection_pool is cache._cache._get_connection_pool(True)


def test_expiry_and_counters_behave_as_djangos(cache):
    assert cache.add("limit", 0, 1)
    assert not cache.add("limit", 5, 1)  # already there
    assert [cache.incr("limit") for _ in range(3)] == [1, 2, 3]
    redis_client = cache._cache.get_client(write=True)
    assert redis_client.ttl(cache.make_and_validate_key("limit")) in (0, 1)


def test_the_settings_use_this_backend():
    from vaccine_orders.settings import base

    assert base.REDIS_URL  # set wherever these Redis tests run
    assert base.CACHES["default"]["BACKEND"] == "vaccine_orders.cache.RedisCache"


def test_incr_keeps_djangos_contract_in_one_round_trip(cache):
    with pytest.raises(ValueError, match="not found"):
        cache.incr("missing")
    assert cache.get("missing") is None  # not created by the failed increment
    cache.set("n", 5, 30)
    assert cache.incr("n", 3) == 8 and cache.decr("n", 2) == 6
    client = cache._cache.get_client(write=True)
    assert 0 < client.ttl(cache.make_and_validate_key("n")) <= 30  # the expiry survives the increments
    with redis_commands(client) as commands:
        assert cache.incr("n") == 7
    assert commands == ["EVALSHA"]  # Django's own sends EXISTS, then INCRBY


def test_count_is_a_counter_with_the_expiry_of_its_creation_in_one_round_trip(cache):
    client = cache._cache.get_client(write=True)
    key = cache.make_and_validate_key("window")
    assert cache.count("window", 30) == 1
    client.expire(key, 5)  # as if the window were ending: a later count must not push the expiry back
    with redis_commands(client) as commands:
        assert [cache.count("window", 30) for _ in range(3)] == [2, 3, 4]
    assert commands == ["EVALSHA"] * 3
    assert 0 < client.ttl(key) <= 5
    assert cache.get("window") == 4  # the same value Django's get and incr see
    assert cache.count("other", 1) == 1 and 0 < client.ttl(cache.make_and_validate_key("other")) <= 1


def test_rate_limits_use_it_and_are_shared_between_workers(cache, settings):
    from unittest import mock

    from vaccine_orders.portal import antispam

    second = RedisCache(_url(settings), {"KEY_PREFIX": "test-cache"})  # another process's client
    for worker in (cache, second, cache):
        with mock.patch.object(antispam, "cache", worker):
            assert antispam.rate_limit_allows(scope="valider", key="user:7", limit=3, window_seconds=60)
    with mock.patch.object(antispam, "cache", second):
        assert not antispam.rate_limit_allows(scope="valider", key="user:7", limit=3, window_seconds=60)
        assert antispam.rate_limit_allows(scope="valider", key="user:8", limit=3, window_seconds=60)
