"""Every socket and request of a process shares the cache's Redis connections.

Django gives each asyncio task (each socket, each request) a cache object of its own; with a
connection pool per object, each open socket that had posted (the rate limit counts posts in the
cache) held a Redis connection of its own, and kept it after it closed until the garbage
collector freed the object.
"""

import asyncio
import contextvars

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache

from .redis_control import redis_clients

pytestmark = pytest.mark.services

SOCKETS = 20


async def test_open_sockets_that_each_used_the_cache_share_its_connections():
    before = redis_clients()
    all_posted, leave = asyncio.Barrier(SOCKETS + 1), asyncio.Event()

    async def socket_that_posts(n: int) -> None:  # a task of its own, as each socket is
        await sync_to_async(cache.set)(f"cache-pool-test:{n}", n, timeout=5)
        await all_posted.wait()
        await leave.wait()

    # Each in a context of its own, as daphne starts each connection's application.
    sockets = [
        asyncio.create_task(socket_that_posts(n), context=contextvars.Context())
        for n in range(SOCKETS)
    ]
    await all_posted.wait()
    opened = redis_clients() - before
    leave.set()
    await asyncio.gather(*sockets)

    assert opened <= 2
