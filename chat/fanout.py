"""Fan-out inside a daphne process: one group membership per thread, one pass over its sockets.

When every socket joins the thread's group itself, each event is queued once per socket, and
each socket's consumer task wakes, dispatches and sends: at hundreds of members and tens of
frames a second, that per-socket bookkeeping was a third of daphne's time (bench/README.md).
Here the process joins each thread's group once, through one channel of its own, and one task
writes every event it receives to the thread's local sockets in turn, in the order received.
Sockets have no channel of their own.
"""

import asyncio
import logging
import weakref
from typing import Any, Protocol

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from workspace.channel_layer import RECONNECTED

from . import events
from .models import Thread
from .selectors import message_list

logger = logging.getLogger(__name__)


class Member(Protocol):
    async def forward(self, html: str) -> None: ...


class ThreadFanout:
    """The local members of each thread, and the one task that forwards events to them."""

    def __init__(self) -> None:
        self._layer = get_channel_layer()
        self._members: dict[int, set[Member]] = {}
        self._channel: str | None = None
        self._receiving: asyncio.Task[None] | None = None  # held: the loop keeps tasks weakly
        # Joins and leaves one at a time: a member who joins while the process is still
        # joining the group must not return before the process is in it.
        self._changing = asyncio.Lock()

    async def join(self, thread_id: int, member: Member) -> None:
        """Add ``member``; when this returns, every later event of the thread reaches it."""
        async with self._changing:
            if thread_id not in self._members:
                group = events.thread_group_name(thread_id)
                await self._layer.group_add(group, await self._name())  # may raise: no trace
                self._members[thread_id] = set()
            self._members[thread_id].add(member)

    async def leave(self, thread_id: int, member: Member) -> None:
        async with self._changing:
            members = self._members.get(thread_id)
            if members is None:
                return
            members.discard(member)
            if not members:
                del self._members[thread_id]
                group = events.thread_group_name(thread_id)
                await self._layer.group_discard(group, await self._name())

    async def _name(self) -> str:
        if self._channel is None:
            self._channel = await self._layer.new_channel()
            self._receiving = asyncio.create_task(self._receive(self._channel))
        return self._channel

    async def _receive(self, channel: str) -> None:
        while True:
            event: dict[str, Any] = await self._layer.receive(channel)
            if event.get("type") in events.THREAD_EVENTS:
                await self._forward(event["thread_id"], event["html"])
            elif event.get("type") == RECONNECTED:
                await self._resend_transcripts()

    async def _resend_transcripts(self) -> None:
        """The process's Redis connection came back, and Pub/Sub kept nothing published
        meanwhile: send every local socket its thread's transcript again, read once a thread."""
        for thread_id in list(self._members):
            try:
                html = await database_sync_to_async(thread_transcript_html)(thread_id)
            except Exception:
                logger.exception("Could not read the transcript of thread %s", thread_id)
                continue
            await self._forward(thread_id, html)

    async def _forward(self, thread_id: int, html: str) -> None:
        for member in list(self._members.get(thread_id, ())):
            try:
                await member.forward(html)
            except Exception:  # one broken socket must not cost the others their event
                logger.exception("Could not forward an event of thread %s", thread_id)


def thread_transcript_html(thread_id: int) -> str:
    """The whole transcript, as a socket is sent it when it (re)connects."""
    return events.transcript_html(message_list(thread=Thread.objects.get(pk=thread_id)))


_per_loop: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ThreadFanout]" = (
    weakref.WeakKeyDictionary()
)


def thread_fanout() -> ThreadFanout:
    """This event loop's fan-out (daphne runs one loop; each async test has its own)."""
    loop = asyncio.get_running_loop()
    if loop not in _per_loop:
        _per_loop[loop] = ThreadFanout()
    return _per_loop[loop]
