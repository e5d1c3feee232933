"""The thread socket: members receive the thread's events and post messages through it."""

import json
import logging
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404
from django.template.loader import render_to_string

from realtime.consumers import MemberSocket
from realtime.fanout import Event
from realtime.topics import thread_topic

from .models import Thread
from .rendering import (
    ThreadRenderer,
    thread_catch_up,
    thread_catch_up_html,
    thread_transcript_html,
)
from .selectors import mentions_resolve, mentions_unknown_hint, thread_get_for_member
from .services import message_create

logger = logging.getLogger(__name__)

# A frame is a JSON object around one message: anything much larger is no message of ours.
FRAME_OVERHEAD = 1024
MALFORMED = "That message could not be read (malformed frame)."


class ThreadConsumer(MemberSocket):
    """One member's socket on one thread."""

    thread: Thread

    def authorize(self, user: Any) -> bool:
        try:
            self.thread = thread_get_for_member(
                user=user, thread_id=self.scope["url_route"]["kwargs"]["thread_id"]
            )
        except Http404:
            return False
        return True

    async def joined(self) -> None:
        topic = thread_topic(self.thread.pk)
        await self.follow(topic, catch_up=thread_catch_up, prepare=ThreadRenderer().prepare)
        # Joined first, read second: whatever happens after the read arrives as an event.
        since = _since_from_query(self.scope["query_string"])
        if since is None:
            html = await database_sync_to_async(thread_transcript_html)(self.thread.pk)
        else:
            html = await database_sync_to_async(thread_catch_up_html)(self.thread.pk, since=since)
        await self.send(text_data=html)

    async def topic_event(self, event: Event) -> None:
        await self.send(text_data=event["html"])

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Post a message. Frames are JSON with a ``body`` string, as htmx's ws-send makes them.

        Every frame gets an answer and none closes the socket, unless the sender's access ended.
        """
        if not hasattr(self, "thread"):
            return
        try:
            body = _body_from_frame(text_data)
            outcome = await database_sync_to_async(self._message_post)(body)
        except ValidationError as exc:
            await self._send_composer_error(" ".join(exc.messages))
            return
        except Exception:
            logger.exception("Could not post a message to thread %s", self.thread.pk)
            await self._send_composer_error("Your message could not be sent; please try again.")
            return
        if isinstance(outcome, int):
            await self.close_with(outcome)
            return
        await self.send(text_data=_composer_reset_html(thread_id=self.thread.pk, hint=outcome))

    def _message_post(self, body: str) -> int | str:
        """Post as the socket's person if their access still holds, and return a hint for
        them ("" if none): whether it mentions handles nobody here answers to. Else the
        close code."""
        if refused := self.access_denied():
            return refused
        message_create(thread=self.thread, author=self.scope["user"], body=body)
        workspace = self.thread.workspace
        return mentions_unknown_hint(
            workspace=workspace, mentions=mentions_resolve(workspace=workspace, body=body)
        )

    async def _send_composer_error(self, error: str) -> None:
        html = render_to_string("chat/_composer_error.html", {"error": error, "oob": True})
        await self.send(text_data=html)


def _composer_reset_html(*, thread_id: int, hint: str) -> str:
    """An empty composer for the sender of a message that was posted, and no error, or a
    hint about the message (it mentions someone unknown)."""
    context = {
        "oob": True,
        "assistant_name": settings.ASSISTANT_NAME,
        "thread_id": thread_id,
        "error": hint,
    }
    return render_to_string("chat/_composer_input.html", context) + render_to_string(
        "chat/_composer_error.html", context
    )


def _since_from_query(query_string: bytes) -> int | None:
    """``?since=<revision>``: the client has the thread up to that revision (see the page's
    script); without it, or unreadable, the client gets the newest page."""
    values = parse_qs(query_string.decode("latin-1")).get("since", [])
    return int(values[0]) if values and values[0].isdigit() else None


def _body_from_frame(text_data: str | None) -> str:
    if text_data is None:
        raise ValidationError("Messages must be sent as text.")
    limit = settings.MESSAGE_MAX_LENGTH
    if len(text_data) > limit * 6 + FRAME_OVERHEAD:  # room for every character as \uXXXX
        raise ValidationError(f"That message is too long; the limit is {limit:,} characters.")
    try:
        frame = json.loads(text_data)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise ValidationError(MALFORMED) from exc
    body = frame.get("body") if isinstance(frame, dict) else None
    if not isinstance(body, str):
        raise ValidationError("That message could not be read (no body).")
    return body
