"""The production cache backend: Django's Redis cache, reusing one redis-py client per connection pool."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest

from vaccine_orders.cache import RedisCache

pytestmark = pytest.mark.redis

REDIS_DB = 3  # a database of its own, whatever REDIS_URL's number


@pytest.fixture
def cache(settings):
    if not settings.TEST_REDIS_URL:
        pytest.skip("needs REDIS_URL")
    url = urlunsplit(urlsplit(settings.TEST_REDIS_URL)._replace(path=f"/{REDIS_DB}"))
    backend = RedisCache(url, {"KEY_PREFIX": "test-cache"})
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

    commands = []
    original = client.execute_command

    def counting(*args, **kwargs):
        commands.append(args[0])
        return original(*args, **kwargs)

    client.execute_command = counting
    try:
        assert cache.incr("n") == 7
    finally:
        del client.execute_command
    assert commands == ["EVALSHA"]  # Django's own sends EXISTS, then INCRBY
