"""The inbox socket: the bell on every page of a logged-in person, live."""

from typing import Any

from channels.db import database_sync_to_async

from realtime.consumers import MemberSocket
from realtime.fanout import Event
from realtime.topics import inbox_topic

from .events import UnreadChanged
from .rendering import inbox_prepare, unread_html
from .selectors import notification_unread_count


class InboxConsumer(MemberSocket):
    """One page's inbox socket. Sends only; whatever the client sends is ignored."""

    def object_get(self, user: Any) -> None:
        """Anyone logged in follows their own inbox, and only theirs."""

    async def joined(self) -> None:
        await self.follow(
            inbox_topic(self._user_id), catch_up=self._unread_now, prepare=inbox_prepare
        )
        # Joined first, read second: a notification made after the page was rendered and
        # before the socket joined is counted here; any later one arrives as an event.
        await self.send(text_data=unread_html(await self._unread_count()))

    async def _unread_count(self) -> int:
        user = self.scope["user"]
        return await database_sync_to_async(notification_unread_count)(person=user)

    async def _unread_now(self, topic: str) -> Event:
        """After a lost Redis connection: the count as it now stands."""
        count = await self._unread_count()
        event = {**UnreadChanged(unread=count).to_wire(), "topic": topic}
        return {**event, "html": unread_html(count)}

    async def _html_send(self, event: Event) -> None:
        await self.send(text_data=event["html"])

    # As ``rendering.inbox_prepare`` made them, once for all the person's sockets.
    inbox_notification = inbox_unread = _html_send

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        return
