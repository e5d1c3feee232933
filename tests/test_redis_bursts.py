"""A burst of sockets coming or going opens a bounded number of Redis connections.

A connection pool keeps every connection it ever opened: one that opens a connection per
command in flight would, after a hundred sockets left a daphne process at once, hold a hundred
idle connections to Redis for good (the soak in bench/README.md).
"""

import asyncio

import pytest

from realtime.events import Person
from realtime.loops import REDIS_CONNECTIONS_PER_LOOP
from realtime.presence import PresenceBoard

from .redis_control import redis_clients

pytestmark = pytest.mark.services

BURST = 100


async def test_a_hundred_sockets_leaving_at_once_use_a_few_presence_connections():
    board, before = PresenceBoard(), redis_clients()
    person = Person(id=1, name="alice")

    await asyncio.gather(*(board.renew("thread.1", f"socket-{n}", person) for n in range(BURST)))
    await asyncio.gather(*(board.leave("thread.1", f"socket-{n}") for n in range(BURST)))

    assert redis_clients() - before <= REDIS_CONNECTIONS_PER_LOOP
    assert await board.people("thread.1") == []
