"""One object per event loop: daphne runs one loop per process, each async test its own."""

import asyncio
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

from django.conf import settings
from redis.asyncio import BlockingConnectionPool, Redis

# Connections a loop's Redis client (presence, claims) holds at most: a burst of sockets coming
# or going waits its turn for one instead of opening more, which its pool would keep for good.
REDIS_CONNECTIONS_PER_LOOP = 8
REDIS_WAIT_S = 10  # for a free connection, before the command fails as if Redis were away


# Tasks run to their end although no one waits for them (the loop holds tasks only weakly).
_kept: set[asyncio.Task[Any]] = set()


def task_kept[T](work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """Run ``work`` as a task of the running loop, held until it ends."""
    task = asyncio.get_running_loop().create_task(work)
    _kept.add(task)
    task.add_done_callback(_kept.discard)
    return task


class PerLoop[T]:
    """``PerLoop(Factory)()`` is the running loop's instance, made on first use.

    Objects that hold connections or tasks belong to the loop that made them; a loop that ends
    takes its instance with it (the mapping holds loops weakly).
    """

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._instances: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = (
            weakref.WeakKeyDictionary()
        )

    def __call__(self) -> T:
        loop = asyncio.get_running_loop()
        if loop not in self._instances:
            self._instances[loop] = self._factory()
        return self._instances[loop]


def loop_redis(**options: Any) -> Redis:
    """A client of the shared Redis for one event loop, holding at most
    REDIS_CONNECTIONS_PER_LOOP connections (``options``: the connections', such as
    ``decode_responses``)."""
    pool = BlockingConnectionPool.from_url(
        settings.REDIS_URL,
        max_connections=REDIS_CONNECTIONS_PER_LOOP,
        timeout=REDIS_WAIT_S,
        **options,
    )
    _loop_pools().append(pool)
    return Redis(connection_pool=pool)


async def loop_redis_idle_disconnect() -> None:
    """Close the connections this loop's clients hold idle; a later command opens one again."""
    for pool in _loop_pools():
        await pool.disconnect(inuse_connections=False)


_loop_pools: PerLoop[list[BlockingConnectionPool]] = PerLoop(list)
