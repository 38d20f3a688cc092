"""Django's Redis cache, with one redis-py client per connection pool instead of one per operation.

Django's RedisCacheClient builds a new `redis.Redis` for every get, set or incr, and building one fills a
table of ~170 response callbacks: with the session read and written and the rate-limit counters, six
clients per validation, a thirtieth of its Python calls (profiled). A redis-py client is thread-safe
and only borrows connections from its pool, so one per pool is enough; the pools themselves are Django's,
unchanged.

`incr` is also one round trip instead of two (EXISTS then INCRBY), in a script that Redis runs atomically:
a key that expires between the two commands can no longer be re-created without its expiry. `count` (not in
Django's API) is the rate limits' counter in one round trip too: the increment, and the expiry when it creates the
key; without it, a limited POST ("Valider") cost an `add` and an `incr`.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends import redis as django_redis

# Django's contract: incrementing a missing key is an error (None here, ValueError for the caller).
INCR_EXISTING = "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCRBY', KEYS[1], ARGV[1]) end"
# A counter that starts at 1 and expires `timeout` seconds after its creation (a fixed window).
COUNT = "local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end return n"


class RedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[Any, Any] = {}  # connection pool → its client (pools live as long as this object)
        self._incr_script: Any = None
        self._count_script: Any = None

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = self._clients.get(pool)
        if client is None:
            client = self._clients[pool] = self._client(connection_pool=pool)
        return client

    def incr(self, key: Any, delta: int) -> int:
        client = self.get_client(key, write=True)
        if self._incr_script is None:
            self._incr_script = client.register_script(INCR_EXISTING)  # EVALSHA; reloaded if Redis forgot it
        value = self._incr_script(keys=[key], args=[delta], client=client)
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return value

    def count(self, key: Any, timeout: int) -> int:
        client = self.get_client(key, write=True)
        if self._count_script is None:
            self._count_script = client.register_script(COUNT)
        return self._count_script(keys=[key], args=[timeout], client=client)


class RedisCache(django_redis.RedisCache):
    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient

    def count(self, key: str, timeout: int, version: int | None = None) -> int:
        """Add one to the counter `key` and return it; a counter this call creates expires after `timeout` s."""
        return self._cache.count(self.make_and_validate_key(key, version=version), timeout)
