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

While Redis is away, sockets stay open but hear nothing, so they are told (``realtime.away``)
and told again when events flow once more (``realtime.back``, after the catch-up): a page says
"reconnecting", not "live", meanwhile. The process knows by sending itself a heartbeat every
``HEARTBEAT_EVERY_S``: a send that fails means away, the next heartbeat heard means back.

Streams (Server-Sent Events, ``/v1`` completions) follow topics here too (``join_stream``):
they are handed each event as published, not as prepared for sockets, and after a lost
connection ``layer.reconnected`` itself, from which they catch up on their own.
"""

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from channels.layers import get_channel_layer

from .channel_layer import RECONNECTED
from .loops import PerLoop

logger = logging.getLogger(__name__)

Event = dict[str, Any]

# Made here, for this process's sockets (never published).
AWAY = "realtime.away"  # Redis is away: events published meanwhile may not reach the socket
BACK = "realtime.back"  # events flow again, and every topic was caught up
HEARTBEAT = "realtime.heartbeat"  # sent to this process's own channel, to hear Redis is there
HEARTBEAT_EVERY_S = 1.0
HEARTBEAT_TIMEOUT_S = 5.0  # a send that takes longer counts as failed (a lost network);
# long enough that a busy process or Redis (a loaded laptop, a CI machine) is not taken for one
CatchUp = Callable[[str], Awaitable[Event | None]]
Prepare = Callable[[Event], Awaitable[Event | None]]


class Member(Protocol):
    async def deliver(self, event: Event) -> None: ...


@dataclass
class _Followed:
    """One topic this process follows: its local members, and how its sockets are served."""

    sockets: set[Member] = field(default_factory=set)
    streams: set[Member] = field(default_factory=set)
    catch_up: CatchUp | None = None
    prepare: Prepare | None = None


class Fanout:
    """The local members of each topic, and the one task that hands events to them."""

    def __init__(self) -> None:
        self._layer = get_channel_layer()
        self._topics: dict[str, _Followed] = {}
        self._channel: str | None = None
        self._receiving: asyncio.Task[None] | None = None  # held: the loop keeps tasks weakly
        self._watching: asyncio.Task[None] | None = None
        self.away = False  # Redis is away: the sockets were told (AWAY)
        self._caught_up = True  # since Redis went away, the topics were caught up
        # Joins and leaves one at a time: a member who joins while the process is still
        # joining the group must not return before the process is in it.
        self._changing = asyncio.Lock()

    @property
    def following(self) -> bool:
        """Whether any socket or stream of this process follows a topic."""
        return bool(self._topics)

    async def join(
        self,
        topic: str,
        member: Member,
        *,
        catch_up: CatchUp | None = None,
        prepare: Prepare | None = None,
    ) -> None:
        """Add the socket ``member``; when this returns, every later event of the topic
        reaches it.

        The first socket of a topic brings its ``catch_up`` and ``prepare`` (which turns each
        published event into what the topic's sockets are given, or None to give nothing);
        they hold for the topic until its last socket leaves.
        """
        async with self._changing:
            followed = await self._followed(topic)
            if not followed.sockets:
                followed.catch_up, followed.prepare = catch_up, prepare
            followed.sockets.add(member)

    async def join_stream(self, topic: str, member: Member) -> None:
        """Add ``member``, which is given each event of the topic as it was published (a
        stream to a script, say), not as the topic's sockets are shown it; after a lost
        Redis connection it is given ``layer.reconnected`` and catches up by itself."""
        async with self._changing:
            (await self._followed(topic)).streams.add(member)

    async def _followed(self, topic: str) -> _Followed:
        followed = self._topics.get(topic)
        if followed is None:
            await self._layer.group_add(topic, await self._name())  # may raise: no trace
            followed = self._topics[topic] = _Followed()
        return followed

    async def leave(self, topic: str, member: Member) -> None:
        async with self._changing:
            followed = self._topics.get(topic)
            if followed is None:
                return
            followed.sockets.discard(member)
            followed.streams.discard(member)
            if not followed.sockets:
                followed.catch_up = followed.prepare = None
            if not followed.sockets and not followed.streams:
                # Forgotten once out of the group: a leave cut short here (its socket's task
                # cancelled) is finished by the next one.
                await self._layer.group_discard(topic, await self._name())
                del self._topics[topic]

    async def _name(self) -> str:
        if self._channel is None:
            self._channel = await self._layer.new_channel()
            # A context of its own: the task outlives whoever first joined, and must not keep
            # what their context held (asgiref's executor of a request or socket long gone,
            # which database_sync_to_async in a socket's handler would then try to use).
            self._receiving = asyncio.create_task(
                self._receive(self._channel), context=contextvars.Context()
            )
            self._watching = asyncio.create_task(
                self._watch(self._channel), context=contextvars.Context()
            )
        return self._channel

    async def _receive(self, channel: str) -> None:
        while True:
            event: Event = await self._layer.receive(channel)
            kind = event.get("type")
            if kind == RECONNECTED:
                await self._catch_up_all()
            elif kind == HEARTBEAT:
                if self.away:
                    await self._back()
            elif (followed := self._topics.get(event.get("topic", ""))) is not None:
                await self._deliver(followed.streams, event)
                if followed.sockets and (prepared := await self._prepare(followed, event)):
                    await self._deliver(followed.sockets, prepared)

    async def _prepare(self, followed: _Followed, event: Event) -> Event | None:
        if followed.prepare is None:
            return event
        try:
            return await followed.prepare(event)
        except Exception:  # one event that cannot be shown must not stop the others
            logger.exception("Could not prepare %s of %s", event.get("type"), event.get("topic"))
            return None

    async def _watch(self, channel: str) -> None:
        """Send the process's channel a heartbeat every HEARTBEAT_EVERY_S; tell the sockets
        when one cannot be sent (``_receive`` hears the next one that arrives)."""
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY_S)
            try:
                async with asyncio.timeout(HEARTBEAT_TIMEOUT_S):
                    await self._layer.send(channel, {"type": HEARTBEAT})
            except Exception:
                if not self.away:
                    logger.warning("Redis is away: the sockets of this process are told")
                    self.away, self._caught_up = True, False
                    await self._deliver(self._all_sockets(), {"type": AWAY})

    async def _back(self) -> None:
        """A heartbeat arrived after Redis was away: catch up every topic (unless the
        reconnect did), then tell the sockets that events flow again."""
        if not self._caught_up:
            await self._catch_up_all()
        self.away = False
        logger.warning("Redis is back: the sockets of this process are told")
        await self._deliver(self._all_sockets(), {"type": BACK})

    def _all_sockets(self) -> set[Member]:
        """Every local socket once, whatever number of topics it follows."""
        return set().union(*(followed.sockets for followed in self._topics.values()))

    async def _catch_up_all(self) -> None:
        self._caught_up = True
        for topic, followed in list(self._topics.items()):
            await self._deliver(followed.streams, {"type": RECONNECTED, "topic": topic})
            if followed.catch_up is None:
                continue
            try:
                event = await followed.catch_up(topic)
            except Exception:
                logger.exception("Could not catch up the sockets of %s", topic)
                continue
            if event is not None:
                await self._deliver(followed.sockets, event)

    async def _deliver(self, members: set[Member], event: Event) -> None:
        for member in list(members):
            try:
                await member.deliver(event)
            except Exception:  # one broken socket must not cost the others their event
                logger.exception(
                    "Could not deliver %s to a member of %s", event.get("type"), event.get("topic")
                )


# This event loop's fan-out (daphne runs one loop; each async test has its own).
fanout = PerLoop(Fanout)
