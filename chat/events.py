"""The thread's real-time contract: its event types and their payloads, defined once.

Events are structured data, not HTML: whoever changes a thread (a web process, the model
worker) publishes one small event to the thread's topic (``thread.<id>``, ``realtime.topics``),
and each web process turns it into HTML once for all its sockets of the thread
(``chat.rendering``). The same events, as JSON (``to_wire``/``event_parse``), serve clients
that are not browsers. Each is a ``realtime.contract`` model, validated when it is made.

===============  ==================================================================
event type       meaning and payload (every event: ``type``, ``topic``,
                 ``thread_id``, ``message_id``)
===============  ==================================================================
chat.message     a message was added (a person's, or an assistant's queued answer);
                 ``message``: the message as data (``MessageData``)
chat.status      a message changed: ``message`` as it now stands, with its status
                 (queued, streaming, done, stopped, interrupted, failed), its place
                 in the queue, and once an answer has ended, its ``statistics``
chat.frame       an answer grew: ``seq`` (1, 2, ... per message, no gaps) and
                 ``delta``, the text added since frame ``seq - 1``
chat.settings    the thread's settings changed (no ``message_id``): ``settings``,
                 who answers unaddressed messages and the overrides, and who changed them
===============  ==================================================================

One event goes to the workspace's topic (``workspace.<id>``) instead, for every member with a
page of the workspace open, whose sidebar lists its threads by last activity:

===============  ==================================================================
chat.thread      a thread was started, a person posted in it, or an answer in it
                 ended, so it moves to the top: ``workspace_id``, ``title``,
                 ``last_activity_at``, and the message that made it active
                 (``message_id`` and ``author_id``; both None for a thread just
                 started, ``author_id`` None for an answer)
===============  ==================================================================

And one to a person's own topic (``user.<id>``), for every page they have open anywhere:

===============  ==================================================================
chat.read        they read a thread further (on another tab or device, say):
                 ``workspace_id``, ``user_id`` and ``last_read_message_id``, the
                 newest message of the thread they have read
===============  ==================================================================

Events carry what a client shows (a message as its read model's data, ``chat.message_read``),
so a web process renders them without reading the database, and no event waits behind
another's query (but a frame of an answer whose earlier frames it did not see).

Besides these, a web process sends each socket the whole transcript when it (re)connects, and
all its sockets of a thread when its Redis connection came back after a loss
(``chat.transcript``, made locally and never published), so nothing sent while a client was
away is missed.
"""

from typing import TypedDict

from django.conf import settings

from realtime.contract import EventModel
from realtime.publish import publish
from realtime.topics import thread_topic, user_topic, workspace_topic

from .message_read import MessageData
from .models import Message, Thread, ThreadRead
from .selectors import message_read

TRANSCRIPT = "chat.transcript"


class ThreadSettingsData(TypedDict):
    """A thread's settings, as every member sees them above the transcript."""

    answers_unaddressed: bool
    answerer: str  # the handle of who answers unaddressed messages
    system_prompt_override: str
    temperature_override: float | None
    max_tokens_override: int | None
    sources_use: str  # "all", "some" or "none" of the workspace's sources
    chosen_sources: list[str]  # with "some": their titles
    changed_by: str  # "" until a member changes them


class ThreadEvent(EventModel):
    thread_id: int


class MessageEvent(ThreadEvent):
    message_id: int


class MessageAdded(MessageEvent):
    type = "chat.message"
    message: MessageData


class MessageChanged(MessageEvent):
    type = "chat.status"
    message: MessageData


class Frame(MessageEvent):
    type = "chat.frame"
    seq: int
    delta: str


class ThreadSettingsChanged(ThreadEvent):
    type = "chat.settings"
    settings: ThreadSettingsData


class ThreadActive(ThreadEvent):
    """Published to the workspace's topic, not the thread's: the sidebars follow it."""

    type = "chat.thread"
    workspace_id: int
    title: str
    last_activity_at: str  # ISO 8601
    message_id: int | None
    author_id: int | None


class ThreadReadChanged(ThreadEvent):
    """Published to the reader's own topic: their other pages update their unread counts."""

    type = "chat.read"
    workspace_id: int
    user_id: int
    last_read_message_id: int


def broadcast_message_created(message: Message) -> None:
    _publish(
        MessageAdded(
            thread_id=message.thread_id,
            message_id=message.pk,
            message=message_read(message).to_data(),
        )
    )


def broadcast_message_changed(message: Message) -> None:
    _publish(
        MessageChanged(
            thread_id=message.thread_id,
            message_id=message.pk,
            message=message_read(message).to_data(),
        )
    )


def broadcast_frame(message: Message, *, seq: int, delta: str) -> None:
    """Frame ``seq`` of a streaming answer: only the text it adds travels."""
    _publish(Frame(thread_id=message.thread_id, message_id=message.pk, seq=seq, delta=delta))


def thread_settings_data(thread: Thread, *, changed_by: str = "") -> ThreadSettingsData:
    answerer = thread.answerer
    return {
        "answers_unaddressed": thread.answers_unaddressed,
        "answerer": answerer.handle if answerer else settings.ASSISTANT_NAME,
        "system_prompt_override": thread.system_prompt_override,
        "temperature_override": thread.temperature_override,
        "max_tokens_override": thread.max_tokens_override,
        "sources_use": thread.sources_use,
        "chosen_sources": (
            [str(source) for source in thread.chosen_sources.order_by("title")]
            if thread.sources_use == Thread.SourcesUse.SOME
            else []
        ),
        "changed_by": changed_by,
    }


def broadcast_thread_settings_changed(thread: Thread, *, by: str) -> None:
    _publish(
        ThreadSettingsChanged(
            thread_id=thread.pk, settings=thread_settings_data(thread, changed_by=by)
        )
    )


def broadcast_thread_active(thread: Thread, *, message: Message | None = None) -> None:
    """The thread was started (no ``message``), a person posted ``message`` in it, or the
    answer ``message`` ended."""
    event = ThreadActive(
        thread_id=thread.pk,
        workspace_id=thread.workspace_id,
        title=thread.title,
        last_activity_at=thread.last_activity_at.isoformat(),
        message_id=message.pk if message else None,
        author_id=message.author_id if message else None,
    )
    publish(workspace_topic(thread.workspace_id), event)


def broadcast_thread_read(read: ThreadRead, *, workspace_id: int) -> None:
    """``read.user`` has read ``read.thread`` up to a newer message than before."""
    event = ThreadReadChanged(
        thread_id=read.thread_id,
        workspace_id=workspace_id,
        user_id=read.user_id,
        last_read_message_id=read.last_read_message_id,
    )
    publish(user_topic(read.user_id), event)


def _publish(event: ThreadEvent) -> None:
    publish(thread_topic(event.thread_id), event)
