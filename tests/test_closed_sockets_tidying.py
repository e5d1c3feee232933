"""What sockets that closed leave behind is given back soon (``realtime.tidying``)."""

import asyncio
import gc
import weakref

import psutil
import pytest

from realtime import tidying
from realtime.events import PresenceChanged
from realtime.presence import presence_board
from realtime.tidying import closed_sockets_tidier
from realtime.topics import thread_topic

from .topic_follower import TopicFollower

pytestmark = pytest.mark.services


class _Connection:
    """Stands in for twisted's objects of a connection: they refer to one another."""

    def __init__(self) -> None:
        self.myself = self


@pytest.fixture
def full_collections(monkeypatch):
    """The full collections made while the test runs, with automatic ones off."""
    monkeypatch.setattr(tidying, "TIDY_AFTER_CLOSE_S", 0.05)
    made: list[int] = []

    def count(phase: str, info: dict) -> None:
        if phase == "stop" and info["generation"] == 2:
            made.append(info["collected"])

    gc.collect()
    gc.disable()
    gc.callbacks.append(count)
    yield made
    gc.callbacks.remove(count)
    gc.enable()


async def test_sockets_closing_are_followed_by_one_full_collection_that_frees_their_cycles(
    full_collections,
):
    connections = [_Connection() for _ in range(3)]
    gone = [weakref.ref(connection) for connection in connections]
    del connections

    for _ in range(3):  # three sockets close close together
        closed_sockets_tidier().socket_closed()
    assert all(ref() is not None for ref in gone)  # not at once: a close is not slowed down
    await asyncio.sleep(0.3)

    assert all(ref() is None for ref in gone)
    assert len(full_collections) == 1


async def _in_and_out(watcher: TopicFollower, socket_id: str) -> None:
    """A socket enters the thread's viewers and leaves; once that is announced, presence is
    done with Redis."""
    await presence_board().enter(thread_topic(1), socket_id, {"id": 1, "name": "alice"})
    await presence_board().leave(thread_topic(1), socket_id)
    await watcher.until(PresenceChanged.type, people=[])


async def _tidied() -> None:
    closed_sockets_tidier().socket_closed()
    await asyncio.sleep(0.3)


async def test_once_no_socket_is_left_the_idle_redis_connections_are_closed(full_collections):
    descriptors = psutil.Process().num_fds
    watcher = TopicFollower()
    await watcher.follow(thread_topic(1))
    await _in_and_out(watcher, "socket-1")  # the channel layer's connections are open now
    await watcher.leave()
    await _tidied()
    before = descriptors()

    await watcher.follow(thread_topic(1))
    await _in_and_out(watcher, "socket-2")
    assert descriptors() > before  # presence's connection, kept idle in its pool
    await _tidied()  # the watcher still follows: nothing closed
    assert descriptors() > before
    await watcher.leave()
    await _tidied()

    assert descriptors() == before


async def test_a_tidying_that_could_not_reach_redis_does_not_stop_the_next(
    full_collections, monkeypatch
):
    async def redis_away() -> None:
        raise ConnectionError("Redis is away")

    monkeypatch.setattr(tidying, "loop_redis_idle_disconnect", redis_away)
    closed_sockets_tidier().socket_closed()
    await asyncio.sleep(0.3)
    closed_sockets_tidier().socket_closed()
    await asyncio.sleep(0.3)

    assert len(full_collections) == 2
