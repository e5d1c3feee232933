"""The thread's real-time contract: event types and their payloads, in one place.

Every event published to a thread's topic (``thread.<id>``, ``realtime.topics``) carries
``thread_id`` and ``html``: a server-rendered, escaped fragment that htmx swaps into the page
by id (``hx-swap-oob``), so daphne only forwards it (``realtime.fanout``). Rendering happens
once per event here, not once per connected client.

===============  ==================================================================
event type       meaning and payload
===============  ==================================================================
chat.message     a message was added; ``message_id``, ``html`` appends it to the
                 transcript
chat.status      a message changed (status, metadata, final text); ``message_id``,
                 ``html`` replaces the whole message
chat.frame       an assistant answer grew; ``message_id``, ``seq`` (1, 2, ... per
                 message), ``delta`` (text added since frame ``seq - 1``), ``html``
                 replaces the message body with the whole text so far
chat.transcript  ``html``, the whole transcript: made by a daphne process for its own
                 sockets of the thread when its Redis connection came back after a
                 loss (never published)
===============  ==================================================================

Besides these, a consumer sends each client, when its socket (re)connects, the whole transcript
as the database and the cache hold it (``transcript_html``), so nothing sent while the client
was away is missed, and nothing is shown twice.
"""

from typing import Any

from channels.db import database_sync_to_async
from django.template.loader import render_to_string

from realtime.publish import publish
from realtime.topics import thread_topic

from .models import Message, Thread
from .selectors import message_list

MESSAGE_CREATED = "chat.message"
MESSAGE_CHANGED = "chat.status"
FRAME = "chat.frame"
TRANSCRIPT = "chat.transcript"


def message_html(message: Message, *, oob: str = "") -> str:
    """The message partial, as the thread page renders it; ``oob`` makes it an htmx OOB swap."""
    return render_to_string("chat/_message.html", {"message": message, "oob": oob})


def message_body_html(
    message: Message, *, oob: str = "", seq: int | None = None, delta: str = ""
) -> str:
    """A message's body; as a frame, it carries the frame's ``seq`` and ``delta`` too."""
    context = {"message": message, "oob": oob, "seq": seq, "delta": delta}
    return render_to_string("chat/_message_body.html", context)


def transcript_html(messages: list[Message]) -> str:
    """The whole transcript, replacing the page's: what a (re)connecting client is sent."""
    html = render_to_string("chat/_transcript.html", {"messages": messages})
    return f'<div id="transcript" hx-swap-oob="innerHTML">{html}</div>'


def broadcast_message_created(message: Message) -> None:
    html = f'<div hx-swap-oob="beforeend:#transcript">{message_html(message)}</div>'
    _send(message.thread_id, {"type": MESSAGE_CREATED, "message_id": message.pk, "html": html})


def broadcast_message_changed(message: Message) -> None:
    html = message_html(message, oob="outerHTML")
    _send(message.thread_id, {"type": MESSAGE_CHANGED, "message_id": message.pk, "html": html})


def broadcast_frame(message: Message, *, seq: int, delta: str) -> None:
    """Send frame ``seq`` of a streaming answer; ``message.body`` holds the whole text so far."""
    html = message_body_html(message, oob="outerHTML", seq=seq, delta=delta)
    payload = {"type": FRAME, "message_id": message.pk, "seq": seq, "delta": delta, "html": html}
    _send(message.thread_id, payload)


def thread_transcript_html(thread_id: int) -> str:
    """The whole transcript, as a socket is sent it when it (re)connects."""
    return transcript_html(message_list(thread=Thread.objects.get(pk=thread_id)))


async def thread_catch_up(topic: str) -> dict[str, Any]:
    """After a lost Redis connection: the transcript, read once for the process's sockets."""
    thread_id = int(topic.rsplit(".", 1)[1])
    html = await database_sync_to_async(thread_transcript_html)(thread_id)
    return {"type": TRANSCRIPT, "html": html}


def _send(thread_id: int, payload: dict[str, Any]) -> None:
    publish(thread_topic(thread_id), {**payload, "thread_id": thread_id})
