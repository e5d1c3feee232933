"""The base of every member's socket: it follows the account, and checks access on every frame.

A socket is authorised when it connects, and again whenever something could have ended that
access: on each frame it receives from the client, and when the person's user topic says their
account changed (logout, password change, deactivation, removal from a workspace), which reaches
the socket on whichever web replica holds it.

Events reach a socket as Channels hands messages to a consumer: by their type, to the method
of that name with dots made underscores (``chat.message`` to ``chat_message``). A socket
ignores the types it has no method for.
"""

import asyncio
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.http import Http404

from .access import session_user_get
from .events import AccountChanged, session_digest
from .fanout import CatchUp, Event, Prepare, fanout
from .loops import task_kept
from .tidying import closed_sockets_tidier
from .topics import user_topic

# Close codes a client can act on (4000-4999 are for applications).
CLOSE_NOT_AUTHENTICATED = 4401  # no session, or it ended: log in again
CLOSE_NOT_FOUND = 4404  # unknown object or not a member: the same answer, as over HTTP
CLOSE_GONE = 1006  # the connection was lost without a close frame (RFC 6455)


async def _recheck_after_reconnect(topic: str) -> Event:
    """An account event may have been lost while Redis was away: check again to be sure."""
    return {"type": AccountChanged.type, "topic": topic}


class MemberSocket(AsyncWebsocketConsumer):
    """A logged-in member's socket on one object of a workspace (a thread, a document...).

    Subclasses say who may see the object (``object_get``), which topics to follow once
    authorised (``joined``) and what to do with their events: one method per event type.
    Events reach the socket through this process's ``Fanout``, which calls ``deliver``: the
    socket needs no channel of its own.
    """

    channel_layer_alias = None  # no layer: no channel, no subscription, no task per socket
    _closing = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._topics: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Serve the socket; if the server cancels it, still leave as a disconnect does.

        daphne cancels a socket whose handling has not ended ``application_close_timeout``
        (10 s) after its client went: a server too busy to finish a connect in time, say. The
        socket would otherwise stay in its topics and keep renewing its presence for good.
        Leaving twice is harmless, so a disconnect cut short is simply done again.
        """
        try:
            await super().__call__(scope, receive, send)
        except asyncio.CancelledError:
            # Its own task, which outlives this one: cancelled again (daphne retries), it goes on.
            await asyncio.shield(task_kept(self.disconnect(CLOSE_GONE)))
            raise

    def authorize(self, user: Any) -> bool:
        """Whether ``user`` may follow this socket's object; runs in a database thread."""
        try:
            self.object_get(user)
        except Http404:
            return False
        return True

    def object_get(self, user: Any) -> None:
        """Find the socket's object as ``user`` may see it and keep it, or raise Http404 (an
        unknown object and one of a workspace they are not a member of alike)."""
        raise NotImplementedError

    async def joined(self) -> None:
        """Follow the object's topics and send the client what it needs to start."""

    async def connect(self) -> None:
        await self.accept()
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.close_with(CLOSE_NOT_AUTHENTICATED)
            return
        self._user_id: int = user.pk
        self._session_key: str | None = self.scope["session"].session_key
        if not await database_sync_to_async(self.authorize)(user):
            await self.close_with(CLOSE_NOT_FOUND)
            return
        await self.follow(user_topic(user.pk), catch_up=_recheck_after_reconnect)
        await self.joined()

    async def follow(
        self, topic: str, *, catch_up: CatchUp | None = None, prepare: Prepare | None = None
    ) -> None:
        """Receive the topic's events from now on (``Fanout.join``)."""
        await fanout().join(topic, self, catch_up=catch_up, prepare=prepare)
        self._topics.append(topic)

    async def disconnect(self, code: int) -> None:
        while self._topics:  # each forgotten once left: a leave cut short is done again
            await fanout().leave(self._topics[-1], self)
            self._topics.pop()
        closed_sockets_tidier().socket_closed()

    async def deliver(self, event: Event) -> None:
        """An event of a followed topic (called by ``Fanout``)."""
        if self._closing:
            return
        handler = getattr(self, get_handler_name(event), None)
        if handler is not None:
            await handler(event)

    async def account_changed(self, event: Event) -> None:
        """Check access again; close if it ended (at once for a session logged out)."""
        ended = event.get("ended_session")
        if self._session_key and ended == session_digest(self._session_key):
            await self.close_with(CLOSE_NOT_AUTHENTICATED)
        elif code := await database_sync_to_async(self.access_denied)():
            await self.close_with(code)
        else:
            await self.access_rechecked()

    async def access_rechecked(self) -> None:
        """Access still holds after an account change; what it allows may differ (a role)."""

    def access_denied(self) -> int | None:
        """The close code if the session or the membership ended since connect, else None.

        Runs in a database thread; call it before acting on anything the client sends.
        """
        user = session_user_get(session_key=self._session_key, user_id=self._user_id)
        if user is None:
            return CLOSE_NOT_AUTHENTICATED
        return None if self.authorize(user) else CLOSE_NOT_FOUND

    async def close_with(self, code: int) -> None:
        """Close, and deliver nothing more to a socket that is going away."""
        self._closing = True
        await self.close(code=code)
