"""Publishing an event to a topic: the only caller of ``group_send`` in the project.

Events are ``realtime.contract`` models, validated as they are made. ``publish`` called inside
a transaction sends the event once it commits (and never if it rolls back), so no client
hears of a change it cannot read yet; outside one it sends at once. ``publish_async`` always
sends at once: a socket relays what its client sent (a Yjs update, presence) before the
update log keeps it, which is what lets editors see each other's keystrokes without waiting
for a write (``documents.update_log``).

One bridge from synchronous code (services, the model worker) to the channel layer. In a web
process the events go out on daphne's own event loop, which holds the process's Redis
connections (``bind_web_loop``); elsewhere, such as in the Celery worker, on one long-lived loop
of the process's own.

A failed publish is logged and dropped, never raised: what the event announces is in the
database already, and clients catch up from there when they reconnect, so a lost event must
not fail the write that caused it.
"""

import asyncio
import logging
import threading
from typing import Any

from channels.layers import get_channel_layer
from django.db import connection, transaction

from .contract import EventModel

logger = logging.getLogger(__name__)

SEND_ATTEMPTS = 2


class _SenderLoop:
    """A long-lived event loop in a daemon thread, for publishing where no web loop runs.

    ``async_to_sync`` would start a fresh loop, and with it fresh Redis connections, on every
    call made outside an event loop (as in the Celery worker, many times a second while
    streaming). One loop keeps one connection pool. Each send waits for completion, so events
    leave in the order they were published.
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
_web_loop: asyncio.AbstractEventLoop | None = None


def bind_web_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Publish from now on through ``loop``, the web server's, while it runs."""
    global _web_loop  # noqa: PLW0603 - one loop per process, set by its ASGI application
    _web_loop = loop


def _run(coroutine: Any) -> None:
    """Run ``coroutine`` to completion on the web loop if one runs, else on the sender loop.

    Called from the web loop's own thread (sync code inside async code), waiting on the web
    loop would block it forever: the sender loop serves then too.
    """
    loop = _web_loop
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if loop is not None and loop.is_running() and loop is not running:
        asyncio.run_coroutine_threadsafe(coroutine, loop).result()
    else:
        _sender.run(coroutine)


def publish(topic: str, event: EventModel) -> None:
    """Send ``event`` to everyone following ``topic``: once the transaction commits, if one
    is open; else now."""
    wire = {**event.to_wire(), "topic": topic}
    # Read without opening a connection: a thread that never used the database has none.
    if connection.in_atomic_block:
        transaction.on_commit(lambda: _send(topic, wire))
    else:
        _send(topic, wire)


def _send(topic: str, event: dict[str, Any]) -> None:
    channel_layer = get_channel_layer()
    assert channel_layer is not None, "CHANNEL_LAYERS must be configured"
    for attempt in range(SEND_ATTEMPTS):
        try:
            _run(channel_layer.group_send(topic, event))
            return
        except Exception:
            # After a Redis restart the pooled connection is dead; the next try opens a new one.
            if attempt == SEND_ATTEMPTS - 1:
                logger.warning("Could not publish %s to %s", event["type"], topic, exc_info=True)


async def publish_async(topic: str, event: EventModel) -> None:
    """``publish`` now, from async code on the loop that runs it: a socket's own events,
    which no transaction holds back."""
    channel_layer = get_channel_layer()
    assert channel_layer is not None, "CHANNEL_LAYERS must be configured"
    try:
        await channel_layer.group_send(topic, {**event.to_wire(), "topic": topic})
    except Exception:
        logger.warning("Could not publish %s to %s", event.type, topic, exc_info=True)


class WebLoopBinding:
    """ASGI middleware: the loop that serves requests is the one events are published on."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        loop = asyncio.get_running_loop()
        if _web_loop is not loop:
            bind_web_loop(loop)
        return await self.application(scope, receive, send)
