"""The sources socket: members with the sources page open see every source change live."""

from typing import Any

from channels.db import database_sync_to_async
from django.http import Http404
from django.template.loader import render_to_string

from realtime.consumers import MemberSocket
from realtime.fanout import Event
from realtime.topics import sources_topic
from workspace.models import Workspace
from workspace.selectors import workspace_get_for_member

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


async def _prepare(event: Event) -> Event | None:
    """Render an event once for all of the topic's sockets, from its own data."""
    html: str
    if event["type"] == events.SOURCE:
        html = render_to_string("knowledge/_source_event.html", {"source": event["source"]})
    elif event["type"] == events.REMOVED:
        html = f'<tr id="source-{int(event["id"])}" hx-swap-oob="delete"></tr>'
    elif event["type"] == HTML:
        return event
    else:
        return None
    return {"type": HTML, "html": html}


class SourcesConsumer(MemberSocket):
    """One member's sources page of one workspace."""

    workspace: Workspace

    def authorize(self, user: Any) -> bool:
        try:
            self.workspace = workspace_get_for_member(
                user=user, workspace_id=self.scope["url_route"]["kwargs"]["workspace_id"]
            )
        except Http404:
            return False
        return True

    async def joined(self) -> None:
        await self.follow(sources_topic(self.workspace.pk), catch_up=_catch_up, prepare=_prepare)
        # Joined first, read second: whatever changes after the read arrives as an event.
        html = await database_sync_to_async(sources_body_html)(self.workspace.pk)
        await self.send(text_data=html)

    async def topic_event(self, event: Event) -> None:
        if event["type"] == HTML:
            await self.send(text_data=event["html"])
