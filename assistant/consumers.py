"""The catch-up socket: the person who asked watches their summary being written.

Only they can open it (``catch_up_get_for_requester``: 4404 for anyone else, as for a
thread), and its topic is the catch-up's own, so no other socket is ever sent a word of it.
"""

from typing import Any

from channels.db import database_sync_to_async

from realtime.consumers import MemberSocket
from realtime.fanout import Event
from realtime.topics import catch_up_topic

from .models import CatchUp
from .rendering import catch_up_body_html, catch_up_panel_html
from .selectors import catch_up_get_for_requester


class CatchUpConsumer(MemberSocket):
    catch_up: CatchUp

    def object_get(self, user: Any) -> None:
        self.catch_up = catch_up_get_for_requester(
            user=user, catch_up_id=self.scope["url_route"]["kwargs"]["catch_up_id"]
        )

    async def joined(self) -> None:
        await self.follow(catch_up_topic(self.catch_up.pk))
        # Joined first, read second: whatever happens after the read arrives as an event.
        await self._panel_send()

    async def catch_up_frame(self, event: Event) -> None:
        if event["seq"] > self.catch_up.last_seq:
            self.catch_up.body, self.catch_up.last_seq = event["text"], event["seq"]
            await self.send(text_data=catch_up_body_html(self.catch_up, oob=True))

    async def catch_up_status(self, event: Event) -> None:
        await self._panel_send()

    async def _panel_send(self) -> None:
        html = await database_sync_to_async(self._panel_read)()
        if html is not None:
            await self.send(text_data=html)

    def _panel_read(self) -> str | None:
        """The panel as the database has it (None: dismissed meanwhile, on another page)."""
        catch_up = CatchUp.objects.select_related("thread", "job").filter(pk=self.catch_up.pk)
        found = catch_up.first()
        if found is None:
            return None
        if found.last_seq < self.catch_up.last_seq:  # frames newer than the last save
            found.body, found.last_seq = self.catch_up.body, self.catch_up.last_seq
        self.catch_up = found
        return catch_up_panel_html(
            thread=found.thread, catch_up=found, missed=0, after=found.after_message_id, oob=True
        )
