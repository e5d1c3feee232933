"""Fan-out inside a daphne process: one group membership per topic, one pass over its sockets.

When every socket joins its topics' groups itself, each event is queued once per socket, and
each socket's consumer task wakes, dispatches and sends: at hundreds of members and tens of
frames a second, that per-socket bookkeeping was a third of daphne's time (bench/README.md).
Here the process joins each topic's group once, through one channel of its own, and one task
hands every event it receives to the topic's local sockets in turn, in the order received.
Sockets have no channel of their own. What an event becomes for the sockets (a thread's
HTML, say) is made once here too, by the topic's ``prepare``, not once per socket.

Pub/Sub keeps nothing for a process whose Redis connection was down. When the connection comes
back (``layer.reconnected``), each topic's ``catch_up`` makes the event that brings its sockets
up to date again (a thread's whole transcript; for an account, "check your access again"),
once per topic, not once per socket.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from channels.layers import get_channel_layer

from .channel_layer import RECONNECTED
from .loops import PerLoop

logger = logging.getLogger(__name__)

Event = dict[str, Any]
CatchUp = Callable[[str], Awaitable[Event | None]]
Prepare = Callable[[Event], Awaitable[Event | None]]


class Member(Protocol):
    async def deliver(self, event: Event) -> None: ...


class Fanout:
    """The local members of each topic, and the one task that hands events to them."""

    def __init__(self) -> None:
        self._layer = get_channel_layer()
        self._members: dict[str, set[Member]] = {}
        self._catch_ups: dict[str, CatchUp] = {}
        self._prepares: dict[str, Prepare] = {}
        self._channel: str | None = None
        self._receiving: asyncio.Task[None] | None = None  # held: the loop keeps tasks weakly
        # Joins and leaves one at a time: a member who joins while the process is still
        # joining the group must not return before the process is in it.
        self._changing = asyncio.Lock()

    async def join(
        self,
        topic: str,
        member: Member,
        *,
        catch_up: CatchUp | None = None,
        prepare: Prepare | None = None,
    ) -> None:
        """Add ``member``; when this returns, every later event of the topic reaches it.

        The first member of a topic brings its ``catch_up`` and ``prepare`` (which turns each
        published event into what the topic's sockets are given, or None to give nothing);
        they hold for the topic until its last member leaves.
        """
        async with self._changing:
            if topic not in self._members:
                await self._layer.group_add(topic, await self._name())  # may raise: no trace
                self._members[topic] = set()
                if catch_up is not None:
                    self._catch_ups[topic] = catch_up
                if prepare is not None:
                    self._prepares[topic] = prepare
            self._members[topic].add(member)

    async def leave(self, topic: str, member: Member) -> None:
        async with self._changing:
            members = self._members.get(topic)
            if members is None:
                return
            members.discard(member)
            if not members:
                del self._members[topic]
                self._catch_ups.pop(topic, None)
                self._prepares.pop(topic, None)
                await self._layer.group_discard(topic, await self._name())

    async def _name(self) -> str:
        if self._channel is None:
            self._channel = await self._layer.new_channel()
            self._receiving = asyncio.create_task(self._receive(self._channel))
        return self._channel

    async def _receive(self, channel: str) -> None:
        while True:
            event: Event = await self._layer.receive(channel)
            if event.get("type") == RECONNECTED:
                await self._catch_up_all()
            elif "topic" in event:
                prepared = await self._prepare(event["topic"], event)
                if prepared is not None:
                    await self._deliver(event["topic"], prepared)

    async def _prepare(self, topic: str, event: Event) -> Event | None:
        prepare = self._prepares.get(topic)
        if prepare is None:
            return event
        try:
            return await prepare(event)
        except Exception:  # one event that cannot be shown must not stop the others
            logger.exception("Could not prepare %s of %s", event.get("type"), topic)
            return None

    async def _catch_up_all(self) -> None:
        for topic, catch_up in list(self._catch_ups.items()):
            try:
                event = await catch_up(topic)
            except Exception:
                logger.exception("Could not catch up the sockets of %s", topic)
                continue
            if event is not None:
                await self._deliver(topic, event)

    async def _deliver(self, topic: str, event: Event) -> None:
        for member in list(self._members.get(topic, ())):
            try:
                await member.deliver(event)
            except Exception:  # one broken socket must not cost the others their event
                logger.exception("Could not deliver %s to a socket of %s", event.get("type"), topic)


# This event loop's fan-out (daphne runs one loop; each async test has its own).
fanout = PerLoop(Fanout)
