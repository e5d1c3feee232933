"""Following topics in a test as a stream does: handed each event as published."""

import asyncio
from typing import Any

from realtime.fanout import Event, fanout

WAIT_S = 10


class TopicFollower:
    """A stream member of this process's fan-out, on as many topics as it follows."""

    def __init__(self) -> None:
        self.topics: list[str] = []
        self._events: asyncio.Queue[Event] = asyncio.Queue()

    async def deliver(self, event: Event) -> None:
        self._events.put_nowait(event)

    async def follow(self, topic: str) -> None:
        """When this returns, every later event of ``topic`` is received."""
        await fanout().join_stream(topic, self)
        self.topics.append(topic)

    async def until(self, event_type: str, **fields: Any) -> list[Event]:
        """The events received before the first of ``event_type`` with ``fields``, which is
        last in the list."""
        received = []
        async with asyncio.timeout(WAIT_S):
            while True:
                event = await self._events.get()
                received.append(event)
                matches = all(event.get(key) == value for key, value in fields.items())
                if event["type"] == event_type and matches:
                    return received

    async def next_of(self, event_type: str, **fields: Any) -> Event:
        """The next event of ``event_type`` with ``fields``."""
        return (await self.until(event_type, **fields))[-1]

    async def leave(self) -> None:
        for topic in self.topics:
            await fanout().leave(topic, self)
