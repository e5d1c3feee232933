"""Thread events turned into HTML at the edge: once per event in each web process.

The model worker publishes only small structured events (``chat.events``). Each daphne process
renders what its sockets of a thread are sent, through the thread's ``ThreadRenderer``, which
the process's fan-out runs once per event for all those sockets. Fragments are server-rendered
and escaped, and htmx swaps them in by id (``hx-swap-oob``).

Events carry a message as its read model's data (``chat.message_read``), which the templates
render as it comes. A frame carries only the text it adds, so the renderer keeps each
streaming answer as this process last showed it, and adds each frame's text to it. A process
that starts following a thread in the middle of an answer, or misses frames, reads the answer
again through ``chat.selectors.message_read`` (the database, and the whole text so far from
the cache, where the worker leaves it before publishing each frame).
"""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.template.loader import render_to_string

from realtime.contract import event_parse
from realtime.events import Person, PresenceChanged, PresenceTyping
from realtime.fanout import Event
from workspace.models import Workspace

from .events import (
    TRANSCRIPT,
    Frame,
    MessageAdded,
    MessageChanged,
    ThreadActive,
    ThreadSettingsChanged,
    ThreadSettingsData,
)
from .message_read import MessageRead
from .models import Message, Thread
from .selectors import (
    MESSAGE_PAGE_SIZE,
    MessagePage,
    UnreadCount,
    message_changes,
    message_page,
    message_read_by_id,
    thread_list_with_unread,
)
from .templatetags.navigation import nav_thread, unread_badge

# How long "... is typing" stays after the last keystroke the page reported (the page's CSS
# hides it after as long, unless a newer report replaces it).
TYPING_SHOWN_S = 5


def message_html(message: MessageRead, *, oob: str = "") -> str:
    """The message partial, as the thread page renders it; ``oob`` makes it an htmx OOB swap."""
    return render_to_string("chat/_message.html", {"message": message, "oob": oob})


def message_body_html(
    message: MessageRead, *, oob: str = "", seq: int | None = None, delta: str = ""
) -> str:
    """A message's body; as a frame, it carries the frame's ``seq`` and ``delta`` too."""
    context = {"message": message, "oob": oob, "seq": seq, "delta": delta}
    return render_to_string("chat/_message_body.html", context)


def presence_html(people: list[Person], *, oob: bool = False) -> str:
    """Who has the thread open, as the page and the socket show it."""
    return render_to_string("chat/_presence.html", {"people": people, "oob": oob})


def thread_settings_html(data: ThreadSettingsData, *, oob: str = "") -> str:
    """What every member sees of the thread's settings, as the page and the socket show it."""
    return render_to_string("chat/_thread_settings.html", {"settings": data, "oob": oob})


def transcript_html(page: MessagePage) -> str:
    """The newest messages, replacing the page's transcript (earlier ones load on scroll)."""
    html = render_to_string("chat/_transcript.html", {"page": page})
    return f'<div id="transcript" hx-swap-oob="innerHTML">{html}</div>'


def thread_transcript_html(thread_id: int) -> str:
    """The newest messages of a thread, as the database and the cache hold them now."""
    return transcript_html(message_page(thread=Thread.objects.get(pk=thread_id)))


def thread_catch_up_html(thread_id: int, *, since: int) -> str:
    """What a client that has seen the thread up to revision ``since`` lacks.

    Changed and new messages, each replacing its shown copy or added at the end; or, when
    more changed than a page holds, the newest page instead of the whole transcript.
    """
    thread = Thread.objects.get(pk=thread_id)
    changes = message_changes(thread=thread, since=since)
    if len(changes) > MESSAGE_PAGE_SIZE:
        return transcript_html(message_page(thread=thread))
    articles = "".join(message_html(message) for message in changes)
    return f'<div hx-swap-oob="beforeend:#transcript">{articles}</div>'


async def thread_catch_up(topic: str) -> Event:
    """After a lost Redis connection: the transcript, read once for the process's sockets."""
    thread_id = int(topic.rsplit(".", 1)[1])
    html = await database_sync_to_async(thread_transcript_html)(thread_id)
    return {"type": TRANSCRIPT, "topic": topic, "html": html}


# Made locally after a lost Redis connection: each sidebar reads its list again.
NAVIGATION_RELOAD = "chat.navigation_reload"


@dataclass(frozen=True)
class NavigationView:
    """One person's sidebar of a workspace: its threads' list, and for each thread how many
    messages they have not read and the newest message counted (so that a later event for
    one counted already is not counted twice)."""

    html: str
    unread: dict[int, UnreadCount]


def navigation_view(*, workspace_id: int, reader: User) -> NavigationView:
    """The sidebar's threads as ``reader`` sees them, replacing the page's list; marked
    ``data-live``: the socket that sends it follows the workspace from then on."""
    workspace = Workspace(pk=workspace_id)
    threads = list(thread_list_with_unread(workspace=workspace, reader=reader).only("pk", "title"))
    html = render_to_string("chat/_nav_threads.html", {"threads": threads, "oob": True})
    unread = {
        thread.pk: UnreadCount(count=thread.unread, newest_message_id=thread.newest_message_id)
        for thread in threads
    }
    return NavigationView(html=html, unread=unread)


def unread_html(*, thread_id: int, count: int) -> str:
    """A thread's unread count, replacing it wherever the page shows it (sidebar, list)."""
    return unread_badge(thread_id, count, oob=True)


async def navigation_catch_up(topic: str) -> Event:
    """After a lost Redis connection, each sidebar reads its person's list again."""
    return {"type": NAVIGATION_RELOAD, "topic": topic}


async def navigation_prepare(event: Event) -> Event | None:
    """A workspace event as its sidebars show it: the active thread moves to the top (the
    page's script takes its old entry away). Its unread count is each socket's own."""
    if event["type"] == NAVIGATION_RELOAD:
        return event
    if event["type"] != ThreadActive.type:
        return None
    active = event_parse(event)
    assert isinstance(active, ThreadActive)
    item = nav_thread(active.thread_id, active.title)
    return {**event, "html": f'<div hx-swap-oob="afterbegin:#nav-threads">{item}</div>'}


class ThreadRenderer:
    """What one web process shows of one thread: each event rendered once for its sockets."""

    def __init__(self) -> None:
        self._streaming: dict[int, MessageRead] = {}  # streaming answers, as last shown
        self._typing: dict[int, tuple[str, float]] = {}  # person: (name, when they said so)
        # Each event type the thread's page shows, and what renders it.
        self._renderers: dict[str, Callable[[Any], Awaitable[str | None]]] = {
            PresenceChanged.type: self._presence_html,
            PresenceTyping.type: self._typing_html,
            Frame.type: self._frame_html,
            MessageAdded.type: self._message_html,
            MessageChanged.type: self._message_html,
            ThreadSettingsChanged.type: self._settings_html,
        }

    async def prepare(self, event: Event) -> Event | None:
        """The event with its ``html``; None when there is nothing new to show."""
        render = self._renderers.get(event["type"])
        html = None if render is None else await render(event_parse(event))
        return None if html is None else {**event, "html": html}

    async def _presence_html(self, event: PresenceChanged) -> str:
        return presence_html(event.people, oob=True)

    async def _settings_html(self, event: ThreadSettingsChanged) -> str:
        return thread_settings_html(event.settings, oob="outerHTML")

    async def _typing_html(self, event: PresenceTyping) -> str:
        """Who is typing: everyone who said so in the last TYPING_SHOWN_S seconds."""
        person = event.person
        now = time.monotonic()
        self._typing[person["id"]] = (person["name"], now)
        for person_id, (_, said_at) in list(self._typing.items()):
            if now - said_at > TYPING_SHOWN_S:
                del self._typing[person_id]
        names = sorted(name for name, _ in self._typing.values())
        return render_to_string("chat/_typing.html", {"names": names, "oob": True})

    async def _frame_html(self, frame: Frame) -> str | None:
        shown = self._streaming.get(frame.message_id)
        if shown is not None and frame.seq <= shown.last_seq:
            return None  # shown already
        if shown is not None and frame.seq == shown.last_seq + 1:
            shown = shown.with_newest_text(frame.seq, shown.body + frame.delta)
        else:  # frames this process did not see: read the answer as it now stands
            found = await database_sync_to_async(message_read_by_id)(frame.message_id)
            if found is None:
                return None
            shown = found
            if found.last_seq == frame.seq - 1:  # read just before this frame was kept
                shown = found.with_newest_text(frame.seq, found.body + frame.delta)
        self._shown_keep(shown)
        return message_body_html(shown, oob="outerHTML", seq=shown.last_seq, delta=frame.delta)

    async def _message_html(self, event: MessageAdded | MessageChanged) -> str:
        message = MessageRead.from_data(event.message)
        shown = self._streaming.get(message.id)
        if shown is not None and message.status == Message.Status.STREAMING:
            message = message.with_newest_text(shown.last_seq, shown.body)
        self._shown_keep(message)
        if isinstance(event, MessageAdded):
            return f'<div hx-swap-oob="beforeend:#transcript">{message_html(message)}</div>'
        return message_html(message, oob="outerHTML")

    def _shown_keep(self, message: MessageRead) -> None:
        """Keep a streaming answer as shown, for its next frame; forget an ended one."""
        if message.status == Message.Status.STREAMING:
            self._streaming[message.id] = message
        else:
            self._streaming.pop(message.id, None)
