"""The thread socket: members receive the thread's events and post messages through it."""

import asyncio
import contextlib
import json
import logging
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError
from django.template.loader import render_to_string

from realtime.consumers import MemberSocket
from realtime.events import Person
from realtime.fanout import Event, fanout
from realtime.presence import RENEW_EVERY_S, presence_board, typing_announce
from realtime.topics import thread_topic, workspace_topic
from workspace.consumers import WorkspaceSocket

from .models import Thread
from .rendering import (
    ThreadRenderer,
    navigation_catch_up,
    navigation_prepare,
    navigation_view,
    thread_catch_up,
    thread_catch_up_html,
    thread_transcript_html,
    unread_html,
)
from .selectors import (
    UnreadCount,
    mentions_resolve,
    mentions_unknown_hint,
    thread_get_for_member,
    thread_unread_count,
)
from .services import message_create

logger = logging.getLogger(__name__)

# A frame is a JSON object around one message: anything much larger is no message of ours.
FRAME_OVERHEAD = 1024
MALFORMED = "That message could not be read (malformed frame)."
DATABASE_AWAY = (
    "The server cannot reach its database just now, so your message was not sent. It is kept "
    "here: send it again in a moment."
)
TYPING_EVERY_S = 2  # "typing" is shown for a few seconds: saying it more often adds nothing


class NavigationFollower(MemberSocket):
    """A socket that also keeps its page's sidebar current: the workspace's threads move to
    the top of it as they become active, with its person's unread counts.

    The counts are read when the socket starts following, then kept here: a message of
    another person adds one (the event says which); an answer that ended, and the person's
    reading a thread (on any page of theirs: ``chat.read`` on their own topic), count that
    thread again.
    """

    _navigation_workspace_id: int | None = None
    _unread: dict[int, UnreadCount]

    async def navigation_follow(self, workspace_id: int) -> None:
        self._navigation_workspace_id = workspace_id
        await self.follow(
            workspace_topic(workspace_id), catch_up=navigation_catch_up, prepare=navigation_prepare
        )
        # Joined first, read second: whatever happens after the read arrives as an event.
        await self._navigation_send()

    async def _navigation_send(self) -> None:
        assert self._navigation_workspace_id is not None
        view = await database_sync_to_async(navigation_view)(
            workspace_id=self._navigation_workspace_id, reader=self.scope["user"]
        )
        self._unread = view.unread
        await self.send(text_data=view.html)

    async def chat_thread(self, event: Event) -> None:
        """A thread became active: it moves to the top, with this person's unread count."""
        if _answer_ended(event):
            count = await self._unread_counted(event["thread_id"], read_up_to=None)
        else:
            count = self._unread_count_add(event)
        await self.send(text_data=event["html"] + unread_html(**count))

    async def chat_read(self, event: Event) -> None:
        """This person read a thread further, on this page or another."""
        if event["workspace_id"] == self._navigation_workspace_id:
            count = await self._unread_counted(
                event["thread_id"], read_up_to=event["last_read_message_id"]
            )
            await self.send(text_data=unread_html(**count))

    async def chat_navigation_reload(self, event: Event) -> None:
        """After a lost Redis connection: the list as it now stands."""
        await self._navigation_send()

    def _unread_count_add(self, event: Event) -> dict[str, int]:
        """Another person's message is one more unread, unless counted when the list was read."""
        thread_id, message_id = event["thread_id"], event["message_id"]
        known = self._unread.get(thread_id, UnreadCount(count=0, newest_message_id=0))
        if message_id is not None and message_id > known.newest_message_id:
            mine = event["author_id"] == self._user_id
            known = UnreadCount(
                count=known.count + (0 if mine else 1), newest_message_id=message_id
            )
            self._unread[thread_id] = known
        return {"thread_id": thread_id, "count": known.count}

    async def _unread_counted(self, thread_id: int, *, read_up_to: int | None) -> dict[str, int]:
        """Count the thread's unread messages again (``read_up_to`` None: from the person's
        stored mark)."""
        counted = await database_sync_to_async(thread_unread_count)(
            thread_id=thread_id, reader=self.scope["user"], read_up_to=read_up_to
        )
        self._unread[thread_id] = counted
        return {"thread_id": thread_id, "count": counted.count}


def _answer_ended(event: Event) -> bool:
    """A ``chat.thread`` event for an answer that ended: whether it was counted when the
    list was read depends on when it ended, not on its number, so it is counted again."""
    return event["message_id"] is not None and event["author_id"] is None


class WorkspaceConsumer(WorkspaceSocket, NavigationFollower):
    """The sidebar's own socket, on the pages of a workspace that have none that brings it
    the workspace's events (all but a thread's)."""

    async def joined(self) -> None:
        await self.navigation_follow(self.workspace.pk)


async def _presence_renew(topic: str, presence_id: str, person: Person) -> None:
    """Keep a socket listed among the thread's viewers until cancelled.

    It is given what it renews, not the socket: once cancelled, the task holds its error, whose
    traceback holds this frame, and a frame holding the socket that holds the task would make
    a cycle, which keeps every socket that left until a full collection (rare in daphne).
    """
    while True:
        await asyncio.sleep(RENEW_EVERY_S)
        with contextlib.suppress(Exception):  # a missed renewal is retried next time
            await presence_board().renew(topic, presence_id, person)


class ThreadConsumer(NavigationFollower):
    """One member's socket on one thread; with ``?nav=1`` (the thread page's), it keeps the
    page's sidebar current too."""

    thread: Thread

    def object_get(self, user: Any) -> None:
        self.thread = thread_get_for_member(
            user=user, thread_id=self.scope["url_route"]["kwargs"]["thread_id"]
        )

    async def joined(self) -> None:
        topic = thread_topic(self.thread.pk)
        await self.follow(topic, catch_up=thread_catch_up, prepare=ThreadRenderer().prepare)
        # Joined first, read second: whatever happens after the read arrives as an event.
        since = _since_from_query(self.scope["query_string"])
        if since is None:
            html = await database_sync_to_async(thread_transcript_html)(self.thread.pk)
        else:
            html = await database_sync_to_async(thread_catch_up_html)(self.thread.pk, since=since)
        # The badge with it: frames the page sends from now on wait until this method returns.
        await self.send(text_data=html + _connection_html(live=not fanout().away))
        await self._presence_enter(topic)
        if _flag_from_query(self.scope["query_string"], "nav"):
            await self.navigation_follow(self.thread.workspace_id)

    async def _presence_enter(self, topic: str) -> None:
        """Be listed among the thread's viewers while the socket is open."""
        user = self.scope["user"]
        self._presence_id = uuid.uuid4().hex
        self._person = Person(id=user.pk, name=user.get_full_name() or user.get_username())
        self._typing_said_at = float("-inf")
        try:
            await presence_board().enter(topic, self._presence_id, self._person)
        except Exception:  # presence is a courtesy: the thread works without it
            logger.warning("Could not list %s in %s", self._person["name"], topic, exc_info=True)
        self._presence_renewal = asyncio.get_running_loop().create_task(
            _presence_renew(topic, self._presence_id, self._person)
        )

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "_presence_renewal"):
            self._presence_renewal.cancel()
            with contextlib.suppress(Exception):
                await presence_board().leave(thread_topic(self.thread.pk), self._presence_id)
        await super().disconnect(code)

    async def _html_send(self, event: Event) -> None:
        await self.send(text_data=event["html"])

    # The thread's events, each as this process's fan-out rendered it for all its sockets.
    chat_message = chat_status = chat_frame = chat_settings = _html_send
    chat_transcript = presence_changed = _html_send

    async def realtime_away(self, event: Event) -> None:
        await self.send(text_data=_connection_html(live=False))

    async def realtime_back(self, event: Event) -> None:
        await self.send(text_data=_connection_html(live=True))

    async def presence_typing(self, event: Event) -> None:
        person = getattr(self, "_person", None)  # set once the socket is listed
        if person is None or event["person"]["id"] != person["id"]:  # people know they type
            await self.send(text_data=event["html"])

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Post a message. Frames are JSON with a ``body`` string, as htmx's ws-send makes them.

        Every frame gets an answer and none closes the socket, unless the sender's access ended.
        """
        if not hasattr(self, "_presence_id"):
            return
        try:
            frame = _frame_parse(text_data)
            if frame.get("typing"):
                await self._typing_say()
                return
            outcome = await database_sync_to_async(self._message_post)(_body_of(frame))
        except ValidationError as exc:
            await self._send_composer_error(" ".join(exc.messages))
            return
        except (OperationalError, InterfaceError):  # PostgreSQL away, or its connection cut
            logger.warning("Could not post to thread %s: database away", self.thread.pk)
            await self._send_composer_error(DATABASE_AWAY)
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

    async def _typing_say(self) -> None:
        """Tell the thread this person is typing (at most every TYPING_EVERY_S)."""
        now = time.monotonic()
        if now - self._typing_said_at < TYPING_EVERY_S:
            return
        self._typing_said_at = now
        if refused := await database_sync_to_async(self.access_denied)():
            await self.close_with(refused)
            return
        await typing_announce(thread_topic(self.thread.pk), self._person)

    async def _send_composer_error(self, error: str) -> None:
        html = render_to_string("chat/_composer_error.html", {"error": error, "oob": True})
        await self.send(text_data=html)


def _connection_html(*, live: bool) -> str:
    """The page's connection badge. "live" is the server's word, said once the socket follows
    the thread and Redis is there: the page sends the messages it held only then."""
    state = "live" if live else "reconnecting"
    return render_to_string("chat/_connection.html", {"state": state, "oob": True})


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


def _flag_from_query(query_string: bytes, name: str) -> bool:
    return parse_qs(query_string.decode("latin-1")).get(name, [""])[0] == "1"


def _frame_parse(text_data: str | None) -> dict[str, Any]:
    """A frame from the page: ``{"body": ...}`` to post, or ``{"typing": ...}``."""
    if text_data is None:
        raise ValidationError("Messages must be sent as text.")
    limit = settings.MESSAGE_MAX_LENGTH
    if len(text_data) > limit * 6 + FRAME_OVERHEAD:  # room for every character as \uXXXX
        raise ValidationError(f"That message is too long; the limit is {limit:,} characters.")
    try:
        frame = json.loads(text_data)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise ValidationError(MALFORMED) from exc
    if not isinstance(frame, dict):
        raise ValidationError("That message could not be read (no body).")
    return frame


def _body_of(frame: dict[str, Any]) -> str:
    body = frame.get("body")
    if not isinstance(body, str):
        raise ValidationError("That message could not be read (no body).")
    return body
