"""Answers as Server-Sent Events: the same answer members watch in the browser.

``POST /api/threads/<id>/ask`` posts a question and streams the first answer it asks for;
``GET /api/messages/<id>/stream`` streams (or resumes) any answer. The stream is::

    event: question   the posted message and the answers it queued (``ask`` only)
    event: chunk      id: <seq>:<offset>   data: {"message_id", "seq", "text"}
    event: sources    the passages the answer was given, numbered as its text cites them
    event: done       the answer as it ended (statistics, stop reason)
    event: error      an answer that failed or was interrupted: the error, and the message

Each chunk's id says how much of the answer's text the client has (``offset``, in
characters: an answer's text only grows). A client that reconnects with ``Last-Event-ID``
gets the text after that offset, then the live chunks: nothing missing, nothing twice.

The stream follows the thread's topic first and reads the answer second (the database, and
the cache's newer text), so whatever happens after the read arrives as an event. Frames
carry only their added text; a frame missed (its seq skips) or a lost Redis connection makes
the stream read the answer again. A client that goes away leaves the answer running for
everyone else, unless it asked otherwise (``stop_on_disconnect``).
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from asgiref.sync import sync_to_async
from channels.consumer import get_handler_name
from django.contrib.auth.models import User
from django.http import HttpRequest, StreamingHttpResponse
from ninja import Header, Router

from chat.message_read import MessageData
from chat.models import Message
from chat.replies import reply_stop
from chat.selectors import message_read_by_id
from chat.services import answerers_of
from realtime.channel_layer import RECONNECTED
from realtime.fanout import Fanout, fanout
from realtime.topics import thread_topic

from .access import message_for, thread_for
from .auth import user_of
from .endpoints import message_post, posted_data
from .errors import ApiError
from .schemas import AskIn

logger = logging.getLogger(__name__)

router = Router(tags=["streaming"])
SSE_RESPONSE = {
    "responses": {200: {"description": "Server-Sent Events", "content": {"text/event-stream": {}}}}
}

# A comment line this often keeps proxies from closing a quiet stream (a long queue).
KEEPALIVE_S = 15.0
# Events a stream holds for a client that reads slower than they come; past this it drops
# them and catches up from the database and the cache instead.
MAX_WAITING_EVENTS = 1000
ENDED_STATUSES = {"done", "stopped", "interrupted", "failed"}
FAILED_STATUSES = {"interrupted", "failed"}


class TopicListener:
    """One stream's place among a topic's members in this process's fan-out.

    The fan-out hands it each event as published (``Fanout.join_stream``), not as prepared
    for browser sockets (HTML), into a queue of the stream's own, which the stream reads at
    its client's pace.
    """

    def __init__(self, topic: str, *, max_events: int | None = None) -> None:
        self.topic = topic
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._max_events = max_events or MAX_WAITING_EVENTS
        self._fanout: Fanout | None = None

    async def open(self) -> "TopicListener":
        """When this returns, every later event of the topic is received."""
        self._fanout = fanout()
        await self._fanout.join_stream(self.topic, self)
        return self

    async def deliver(self, event: dict[str, Any]) -> None:
        if self._events.qsize() >= self._max_events:
            # A client reading very slowly: rather than hold a busy topic's events without
            # end, drop them and have the reader catch up from the record, as after a lost
            # connection.
            while not self._events.empty():
                self._events.get_nowait()
            event = {"type": RECONNECTED}
        self._events.put_nowait(event)

    async def next(self, timeout: float) -> dict[str, Any] | None:
        """The next event, or None after ``timeout`` seconds without one."""
        try:
            return await asyncio.wait_for(self._events.get(), timeout)
        except TimeoutError:
            return None

    async def close(self) -> None:
        """Leave the topic (again: a no-op)."""
        joined, self._fanout = self._fanout, None
        if joined is not None:
            with contextlib.suppress(Exception):
                await joined.leave(self.topic, self)


def sse(event: str, data: dict[str, Any], *, event_id: str | None = None) -> bytes:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"data: {json.dumps(data, ensure_ascii=False)}")
    return ("\n".join(lines) + "\n\n").encode()


def offset_from_last_event_id(value: str | None) -> int:
    """The text offset a reconnecting client has (``<seq>:<offset>``); 0 without one."""
    if not value:
        return 0
    _, _, offset = value.strip().rpartition(":")
    if not offset.isdigit():
        raise ApiError(
            400,
            "invalid_last_event_id",
            "Last-Event-ID must be the id of an event of this stream (<seq>:<offset>).",
            param="Last-Event-ID",
        )
    return int(offset)


def _answer_read(reply_id: int) -> MessageData:
    answer = message_read_by_id(reply_id)
    if answer is None:
        raise ApiError(404, "not_found", "No such message.")
    return answer.to_data()


class AnswerStream:
    """The events of one answer for one client, from ``offset`` characters of its text on."""

    def __init__(self, listener: TopicListener, *, reply_id: int, offset: int) -> None:
        self.listener = listener
        self.reply_id = reply_id
        self.sent = offset  # characters of the text the client has
        self.seq = 0  # the frame whose text ``known`` is
        self.known = 0  # characters of the text as of frame ``seq``
        self.ended = False
        self.stopped = False  # stopped on the client's behalf (stop_on_disconnect)

    async def events(self, *, first: bytes | None = None) -> AsyncIterator[bytes]:
        if first is not None:
            yield first
        async for piece in self._read_again():
            yield piece
        while not self.ended:
            event = await self.listener.next(KEEPALIVE_S)
            if event is None:
                yield b": keepalive\n\n"
                continue
            # By type, as Channels hands events to a consumer: chat.frame to chat_frame.
            handler = getattr(self, get_handler_name(event), None)
            if handler is not None:
                async for piece in handler(event):
                    yield piece

    async def _read_again(self) -> AsyncIterator[bytes]:
        """Catch up from the answer as read: its text after what the client has; its end."""
        data = await sync_to_async(_answer_read)(self.reply_id)
        if data["last_seq"] >= self.seq:
            self.seq, self.known = data["last_seq"], len(data["body"])
        async for piece in self._text(data["body"]):
            yield piece
        if data["status"] in ENDED_STATUSES:
            yield self._end(data)

    async def _text(self, text: str) -> AsyncIterator[bytes]:
        if len(text) > self.sent:
            piece, self.sent = text[self.sent :], len(text)
            yield self._chunk(piece)

    def _chunk(self, text: str) -> bytes:
        data = {"message_id": self.reply_id, "seq": self.seq, "text": text}
        return sse("chunk", data, event_id=f"{self.seq}:{self.sent}")

    def _end(self, data: MessageData) -> bytes:
        """The answer's sources (the passages it was given, numbered as its text cites
        them), then its end: ``done``, or ``error`` for an answer that did not finish."""
        self.ended = True
        event_id = f"{self.seq}:{self.sent}"
        sources = sse("sources", {"message_id": self.reply_id, "sources": data.get("sources", [])})
        if data["status"] in FAILED_STATUSES:
            reason = data["error"] or data["stop_reason"] or "The answer did not finish."
            error = {"type": "server_error", "code": data["status"], "message": reason}
            return sources + sse("error", {"error": error, "message": data}, event_id=event_id)
        return sources + sse("done", {"message": data}, event_id=event_id)

    async def layer_reconnected(self, event: dict[str, Any]) -> AsyncIterator[bytes]:
        """Events may have been lost while Redis was away: read the answer again."""
        async for piece in self._read_again():
            yield piece

    async def chat_frame(self, event: dict[str, Any]) -> AsyncIterator[bytes]:
        seq, delta = int(event["seq"]), str(event["delta"])
        if event["message_id"] != self.reply_id or seq <= self.seq:
            return
        if seq != self.seq + 1:  # a frame went missing: the cache has the whole text
            async for piece in self._read_again():
                yield piece
            return
        before, self.seq, self.known = self.known, seq, self.known + len(delta)
        if self.known > self.sent:
            added, self.sent = delta[max(0, self.sent - before) :], self.known
            yield self._chunk(added)

    async def chat_status(self, event: dict[str, Any]) -> AsyncIterator[bytes]:
        """The answer as it now stands: once it has ended, its last text and its end."""
        data: MessageData = event["message"]
        if event["message_id"] != self.reply_id or data["status"] not in ENDED_STATUSES:
            return
        self.seq = max(self.seq, data["last_seq"])
        async for piece in self._text(data["body"]):
            yield piece
        yield self._end(data)

    chat_message = chat_status  # the answer as first announced: read alike


def answer_response(
    listener: TopicListener,
    *,
    reply_id: int,
    offset: int,
    first: bytes | None = None,
    stop_by: User | None = None,
) -> StreamingHttpResponse:
    stream = AnswerStream(listener, reply_id=reply_id, offset=offset)

    async def cleanup() -> None:
        # Leaving the topic comes last: a process that no longer follows it has no stop to
        # make (what the live tests wait for).
        try:
            if stop_by is not None and not stream.ended and not stream.stopped:
                stream.stopped = True
                await _stop_quietly(reply_id, stop_by)
        finally:
            await listener.close()

    async def body() -> AsyncIterator[bytes]:
        try:
            async for piece in stream.events(first=first):
                yield piece
        finally:
            await cleanup()

    return EventStreamResponse(body(), cleanup=cleanup)


class EventStreamResponse(StreamingHttpResponse):
    """A stream of Server-Sent Events whose ``cleanup`` runs however it ends: after the
    last event, when the client leaves mid-stream (Django cancels the body), and when it
    leaves before the body was ever read (Django still closes the response). ``cleanup``
    must be safe to run twice."""

    def __init__(
        self, body: AsyncIterator[bytes], *, cleanup: Callable[[], Coroutine[Any, Any, None]]
    ) -> None:
        super().__init__(body, content_type="text/event-stream; charset=utf-8")
        self["Cache-Control"] = "no-cache, no-store"
        self["X-Accel-Buffering"] = "no"  # a buffering proxy would hold the chunks back
        self._cleanup = cleanup
        self._loop = asyncio.get_running_loop()

    def close(self) -> None:
        super().close()
        with contextlib.suppress(RuntimeError):  # the loop is gone: so is what it held
            asyncio.run_coroutine_threadsafe(self._cleanup(), self._loop)


async def _stop_quietly(reply_id: int, by: User) -> None:
    def stop() -> None:
        reply = Message.objects.filter(pk=reply_id).first()
        if reply is not None:
            reply_stop(reply=reply, by=by)

    try:
        await asyncio.shield(sync_to_async(stop)())
    except BaseException:
        logger.warning("Could not stop answer %s after its client left", reply_id, exc_info=True)


@router.post(
    "/threads/{thread_id}/ask",
    response={200: None},
    openapi_extra={
        "responses": {
            200: {"description": "text/event-stream", "content": {"text/event-stream": {}}}
        }
    },
)
async def thread_ask(request: HttpRequest, thread_id: int, payload: AskIn) -> StreamingHttpResponse:
    """Post a question and stream its answer as Server-Sent Events (see the module's
    docstring for the events). The question must ask someone to answer: mention an
    assistant (or post in a thread whose settings answer every message)."""
    thread = await sync_to_async(thread_for)(request, thread_id)
    answerers = await sync_to_async(answerers_of)(thread=thread, body=payload.body)
    if not answerers:
        raise ApiError(
            400,
            "no_answerer",
            "Nobody would answer that message: mention an assistant, e.g. @assistant.",
            param="body.body",
        )
    listener = await TopicListener(thread_topic(thread.pk)).open()
    try:
        message, replies = await sync_to_async(message_post)(
            thread=thread, request=request, body=payload.body
        )
    except BaseException:
        await listener.close()
        raise
    if not replies:  # the settings changed in between
        await listener.close()
        raise ApiError(400, "no_answerer", "Nobody answered that message.")
    question = await sync_to_async(posted_data)(message, replies)
    user = user_of(request)
    return answer_response(
        listener,
        reply_id=replies[0].pk,
        offset=0,
        first=sse("question", question),
        stop_by=user if payload.stop_on_disconnect else None,
    )


@router.get(
    "/messages/{message_id}/stream",
    response={200: None},
    openapi_extra={
        "responses": {
            200: {"description": "text/event-stream", "content": {"text/event-stream": {}}}
        }
    },
)
async def message_stream(
    request: HttpRequest,
    message_id: int,
    last_event_id: str | None = Header(default=None, alias="Last-Event-ID"),
) -> StreamingHttpResponse:
    """Stream an answer, or resume it: send the last event's id as ``Last-Event-ID`` and
    the stream goes on right after it."""
    message = await sync_to_async(message_for)(request, message_id)
    if not message.is_assistant:
        raise ApiError(400, "not_an_answer", "Only the assistants' answers stream.")
    offset = offset_from_last_event_id(last_event_id)
    listener = await TopicListener(thread_topic(message.thread_id)).open()
    return answer_response(listener, reply_id=message.pk, offset=offset)
