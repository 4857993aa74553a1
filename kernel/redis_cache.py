"""Django's Redis cache backend, with one ``redis.Redis`` client per connection pool.

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` object for every cache call.
The connections come from a shared pool either way, but building the client copies redis-py's
table of ~200 response callbacks into a fresh case-insensitive dict each time: profiled under
``bench/bench_api.py`` that was ~0.1 ms of CPU per cache call, and an authenticated API request
makes two or three (the revocation look-up, the throttle's read and write). A ``redis.Redis``
object holds no per-call state and is safe to share between threads (each command takes a
connection from the pool and gives it back), so one per pool is kept and reused. A forked child
inherits it harmlessly: redis-py's pool notices the new process id and opens its own connections.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class ReusedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[Any, Any] = {}  # connection pool -> its redis.Redis client

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        # Django's own (private, untyped) helpers choose the pool and the client class, as before.
        django_client: Any = self
        pool = django_client._get_connection_pool(write)
        client = self._clients.get(pool)
        if client is None:
            client = self._clients[pool] = django_client._client(connection_pool=pool)
        return client


class ReusedClientRedisCache(RedisCache):
    """``django.core.cache.backends.redis.RedisCache`` with the client reuse above."""

    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient
