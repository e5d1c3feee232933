"""The sources socket: members with the sources page open see every source change live."""

from channels.db import database_sync_to_async
from django.template.loader import render_to_string

from realtime.fanout import Event
from realtime.topics import sources_topic
from workspace.consumers import WorkspaceSocket
from workspace.models import Workspace

from . import events
from .selectors import source_list

HTML = "sources.html"  # what prepared events carry: the fragment every socket is sent


def sources_body_html(workspace_id: int) -> str:
    """The whole list, replacing the page's (on connect and after a Redis reconnect)."""
    sources = source_list(workspace=Workspace(pk=workspace_id))
    return render_to_string(
        "knowledge/_sources_body.html",
        {"sources": [events.source_data(source) for source in sources], "oob": True},
    )


async def _catch_up(topic: str) -> Event:
    workspace_id = int(topic.rsplit(".", 1)[1])
    return {"type": HTML, "html": await database_sync_to_async(sources_body_html)(workspace_id)}


# Each event as its row shows it, rendered once for all of the topic's sockets from its data.
_HTML = {
    events.SourceChanged.type: lambda event: render_to_string(
        "knowledge/_source_event.html", {"source": event["source"]}
    ),
    events.SourceRemoved.type: lambda event: (
        f'<tr id="source-{int(event["id"])}" hx-swap-oob="delete"></tr>'
    ),
}


async def _prepare(event: Event) -> Event | None:
    render = _HTML.get(event["type"])
    return None if render is None else {"type": HTML, "html": render(event)}


class SourcesConsumer(WorkspaceSocket):
    """One member's sources page of one workspace."""

    async def joined(self) -> None:
        await self.follow(sources_topic(self.workspace.pk), catch_up=_catch_up, prepare=_prepare)
        # Joined first, read second: whatever changes after the read arrives as an event.
        html = await database_sync_to_async(sources_body_html)(self.workspace.pk)
        await self.send(text_data=html)

    async def sources_html(self, event: Event) -> None:
        await self.send(text_data=event["html"])
