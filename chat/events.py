"""The real-time contract: group names, event types and their payloads, in one place.

Every event sent to a thread's group carries ``thread_id`` and ``html``: a server-rendered,
escaped fragment that htmx swaps into the page by id (``hx-swap-oob``), so daphne only forwards
it (``chat.fanout``). Rendering happens once per event here, not once per connected client.

=============  ====================================================================
event type     meaning and payload
=============  ====================================================================
chat.message   a message was added; ``message_id``, ``html`` appends it to the transcript
chat.status    a message changed (status, metadata, final text); ``message_id``, ``html``
               replaces the whole message
chat.frame     an assistant answer grew; ``message_id``, ``seq`` (1, 2, ... per message),
               ``delta`` (text added since frame ``seq - 1``), ``html`` replaces the
               message body with the whole text so far
=============  ====================================================================

Besides these, a consumer sends each client, when its socket (re)connects, the whole transcript
as the database and the cache hold it (``transcript_html``), so nothing sent while the client
was away is missed, and nothing is shown twice.

Only this module calls ``group_send``.
"""

import asyncio
import logging
import threading
from typing import Any

from channels.layers import get_channel_layer
from django.template.loader import render_to_string

from .models import Message

logger = logging.getLogger(__name__)

SEND_ATTEMPTS = 2

MESSAGE_CREATED = "chat.message"
MESSAGE_CHANGED = "chat.status"
FRAME = "chat.frame"
THREAD_EVENTS = frozenset({MESSAGE_CREATED, MESSAGE_CHANGED, FRAME})


def thread_group_name(thread_id: int) -> str:
    return f"thread.{thread_id}"


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


class _SenderLoop:
    """A long-lived event loop in a daemon thread, for sending from synchronous code.

    ``async_to_sync`` would start a fresh loop, and with it fresh Redis connections, on every
    call made outside an event loop (as in the Celery worker, many times a second while
    streaming). One loop keeps one connection pool. Each send waits for completion, so events
    leave in the order they were sent.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def run(self, coroutine: Any) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._get_loop()).result()

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(
                    target=self._loop.run_forever, name="channel-layer-sender", daemon=True
                ).start()
            return self._loop


_sender = _SenderLoop()


def _send(thread_id: int, payload: dict[str, Any]) -> None:
    """Send to the thread's group; if Redis is unavailable, log and go on.

    What was written is in the database (and the cache) already, and clients catch up from
    there when they reconnect, so a lost event must not fail the write that caused it.
    """
    channel_layer = get_channel_layer()
    assert channel_layer is not None, "CHANNEL_LAYERS must be configured"
    event = {**payload, "thread_id": thread_id}
    for attempt in range(SEND_ATTEMPTS):
        try:
            _sender.run(channel_layer.group_send(thread_group_name(thread_id), event))
            return
        except Exception:
            # After a Redis restart the pooled connection is dead; the next try opens a new one.
            if attempt == SEND_ATTEMPTS - 1:
                logger.warning(
                    "Could not send %s to thread %s", payload["type"], thread_id, exc_info=True
                )
