"""What sockets that closed left in reference cycles is freed soon (``realtime.collector``)."""

import asyncio
import gc
import weakref

import pytest

from realtime import collector
from realtime.collector import closed_sockets_collector


class _Connection:
    """Stands in for twisted's objects of a connection: they refer to one another."""

    def __init__(self) -> None:
        self.myself = self


@pytest.fixture
def collections(monkeypatch):
    """The full collections run while the test does, with automatic ones off."""
    monkeypatch.setattr(collector, "COLLECT_AFTER_CLOSE_S", 0.05)
    full: list[int] = []

    def count(phase: str, info: dict) -> None:
        if phase == "stop" and info["generation"] == 2:
            full.append(info["collected"])

    gc.collect()
    gc.disable()
    gc.callbacks.append(count)
    yield full
    gc.callbacks.remove(count)
    gc.enable()


async def test_sockets_closing_are_followed_by_one_full_collection_that_frees_their_cycles(
    collections,
):
    connections = [_Connection() for _ in range(3)]
    gone = [weakref.ref(connection) for connection in connections]
    del connections

    for _ in range(3):  # three sockets close close together
        closed_sockets_collector().socket_closed()
    assert all(ref() is not None for ref in gone)  # not at once: a close is not slowed down
    await asyncio.sleep(0.2)

    assert all(ref() is None for ref in gone)
    assert len(collections) == 1
