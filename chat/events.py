"""The thread's real-time contract: its event types and their payloads, defined once.

Events are structured data, not HTML: whoever changes a thread (a web process, the model
worker) publishes one small event to the thread's topic (``thread.<id>``, ``realtime.topics``),
and each web process turns it into HTML once for all its sockets of the thread
(``chat.rendering``). The same events, as JSON (``to_wire``/``event_from_wire``), serve clients
that are not browsers.

===============  ==================================================================
event type       meaning and payload (every event: ``type``, ``topic``,
                 ``thread_id``, ``message_id``)
===============  ==================================================================
chat.message     a message was added (a person's, or an assistant's queued answer)
chat.status      a message changed: ``status`` (queued, streaming, done, stopped,
                 interrupted, failed), and once an answer has ended, its
                 ``statistics`` (tokens, time to first token, tokens/s, stop reason)
chat.frame       an answer grew: ``seq`` (1, 2, ... per message, no gaps) and
                 ``delta``, the text added since frame ``seq - 1``
===============  ==================================================================

Besides these, a web process sends each socket the whole transcript when it (re)connects, and
all its sockets of a thread when its Redis connection came back after a loss
(``chat.transcript``, made locally and never published), so nothing sent while a client was
away is missed.
"""

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, TypedDict

from realtime.publish import publish
from realtime.topics import thread_topic

from .models import Message

TRANSCRIPT = "chat.transcript"


class Statistics(TypedDict):
    stop_reason: str
    prompt_tokens: int | None
    completion_tokens: int | None
    time_to_first_token_ms: float | None
    tokens_per_second: float | None


@dataclass(frozen=True, kw_only=True)
class ThreadEvent:
    type: ClassVar[str]
    thread_id: int
    message_id: int

    def to_wire(self) -> dict[str, Any]:
        """The event as JSON-ready data, with its ``type``."""
        return {"type": self.type, **dataclasses.asdict(self)}


@dataclass(frozen=True, kw_only=True)
class MessageAdded(ThreadEvent):
    type: ClassVar[str] = "chat.message"


@dataclass(frozen=True, kw_only=True)
class MessageChanged(ThreadEvent):
    type: ClassVar[str] = "chat.status"
    status: str
    statistics: Statistics | None = None


@dataclass(frozen=True, kw_only=True)
class Frame(ThreadEvent):
    type: ClassVar[str] = "chat.frame"
    seq: int
    delta: str


EVENT_TYPES: dict[str, type[ThreadEvent]] = {
    cls.type: cls for cls in (MessageAdded, MessageChanged, Frame)
}


def event_from_wire(data: dict[str, Any]) -> ThreadEvent:
    """The event a published dict carries (extra keys, such as ``topic``, are ignored)."""
    cls = EVENT_TYPES[data["type"]]
    names = {field.name for field in dataclasses.fields(cls)}
    return cls(**{key: value for key, value in data.items() if key in names})


def broadcast_message_created(message: Message) -> None:
    _publish(MessageAdded(thread_id=message.thread_id, message_id=message.pk))


def broadcast_message_changed(message: Message) -> None:
    _publish(
        MessageChanged(
            thread_id=message.thread_id,
            message_id=message.pk,
            status=message.status,
            statistics=_statistics(message),
        )
    )


def broadcast_frame(message: Message, *, seq: int, delta: str) -> None:
    """Frame ``seq`` of a streaming answer: only the text it adds travels."""
    _publish(Frame(thread_id=message.thread_id, message_id=message.pk, seq=seq, delta=delta))


def _statistics(message: Message) -> Statistics | None:
    run = message.generation_or_none if message.is_assistant else None
    if run is None or message.is_active:
        return None
    return {
        "stop_reason": message.stop_reason,
        "prompt_tokens": run.prompt_tokens,
        "completion_tokens": run.completion_tokens,
        "time_to_first_token_ms": run.time_to_first_token_ms,
        "tokens_per_second": run.tokens_per_second,
    }


def _publish(event: ThreadEvent) -> None:
    publish(thread_topic(event.thread_id), event.to_wire())
