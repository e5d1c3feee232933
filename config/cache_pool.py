"""One Redis connection pool per process for Django's cache, however many cache objects.

Django makes a cache object per thread and per asyncio context (each request, each socket),
and its Redis cache opens a connection pool per object: under daphne every socket and request
that touched the cache opened a Redis connection of its own, held until the garbage collector
freed the object (the soak in bench/README.md found about 70 such connections per daphne after
a few waves of 100 sockets, still growing). Named as the cache's ``pool_class``, this pool is
made once per server and options, and shared: redis-py's pool is safe across threads and
starts afresh in a forked child.
"""

import threading
from typing import Any, ClassVar, Self

import redis


class SharedConnectionPool(redis.ConnectionPool):
    _made: ClassVar[dict[tuple[str, str], Any]] = {}
    _making = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Self:
        key = (url, repr(sorted(kwargs.items())))
        with cls._making:
            if key not in cls._made:
                cls._made[key] = super().from_url(url, **kwargs)
            pool: Self = cls._made[key]
            return pool
