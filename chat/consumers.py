"""The thread socket: members receive the thread's events and post messages through it."""

import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404
from django.template.loader import render_to_string

from .fanout import thread_fanout, thread_transcript_html
from .models import Thread
from .selectors import thread_get_for_member
from .services import message_create

logger = logging.getLogger(__name__)

# Close codes a client can act on (4000-4999 are for applications).
CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404  # unknown thread or not a member: the same answer, as over HTTP


class ThreadConsumer(AsyncWebsocketConsumer):
    """One member's socket on one thread.

    The thread's events reach it through this process's ``ThreadFanout``, which calls
    ``forward``; so the consumer needs no channel of its own.
    """

    channel_layer_alias = None  # no layer: no channel, no subscription, no task per socket
    thread: Thread

    async def connect(self) -> None:
        user = self.scope["user"]
        await self.accept()
        if not user.is_authenticated:
            await self.close(code=CLOSE_NOT_AUTHENTICATED)
            return
        try:
            self.thread = await database_sync_to_async(thread_get_for_member)(
                user=user, thread_id=self.scope["url_route"]["kwargs"]["thread_id"]
            )
        except Http404:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await thread_fanout().join(self.thread.pk, self)
        # Joined first, read second: whatever happens after the read arrives as an event.
        await self.send(
            text_data=await database_sync_to_async(thread_transcript_html)(self.thread.pk)
        )

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "thread"):
            await thread_fanout().leave(self.thread.pk, self)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Post a message. Frames are JSON with a ``body`` string, as htmx's ws-send makes them."""
        if not hasattr(self, "thread"):
            return
        try:
            body = _body_from_frame(text_data)
            await database_sync_to_async(_message_post)(self.thread.pk, self.scope["user"], body)
        except Http404:
            await self.close(code=CLOSE_NOT_FOUND)  # removed from the workspace meanwhile
            return
        except ValidationError as exc:
            await self._send_composer_error(" ".join(exc.messages))
            return
        await self.send(text_data=_composer_reset_html())

    async def forward(self, html: str) -> None:
        """Send a thread event's pre-rendered fragment (called by ``ThreadFanout``)."""
        await self.send(text_data=html)

    async def _send_composer_error(self, error: str) -> None:
        html = render_to_string("chat/_composer_error.html", {"error": error, "oob": True})
        await self.send(text_data=html)


def _composer_reset_html() -> str:
    """An empty composer and no error, for the sender of a message that was posted."""
    context = {"oob": True, "assistant_name": settings.ASSISTANT_NAME, "error": ""}
    return render_to_string("chat/_composer_input.html", context) + render_to_string(
        "chat/_composer_error.html", context
    )


def _body_from_frame(text_data: str | None) -> str:
    if text_data is None:
        raise ValidationError("Messages must be sent as text.")
    try:
        frame = json.loads(text_data)
    except json.JSONDecodeError as exc:
        raise ValidationError("That message could not be read (malformed frame).") from exc
    body = frame.get("body") if isinstance(frame, dict) else None
    if not isinstance(body, str):
        raise ValidationError("That message could not be read (no body).")
    return body


def _message_post(thread_id: int, user: Any, body: str) -> None:
    """Post as ``user``, checking membership again: it may have ended since ``connect``."""
    thread = thread_get_for_member(user=user, thread_id=thread_id)
    message_create(thread=thread, author=user, body=body)
