"""Reads about threads and messages, always on behalf of a user."""

from bisect import bisect_left
from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Q, QuerySet
from django.http import Http404

from workspace.models import Workspace

from .models import Message, Thread
from .streaming_state import live_text_get_many


def thread_list(*, workspace: Workspace) -> QuerySet[Thread]:
    return workspace.threads.select_related("created_by")


def thread_get_for_member(*, user: User | AnonymousUser, thread_id: int) -> Thread:
    """Return the thread, or raise 404 alike for unknown threads and non-members."""
    if user.is_authenticated:
        thread = (
            Thread.objects.select_related("workspace")
            .filter(pk=thread_id, workspace__memberships__user=user)
            .first()
        )
        if thread is not None:
            return thread
    raise Http404("No such thread.")


def message_get_for_member(*, user: User | AnonymousUser, message_id: int) -> Message:
    """Return the message, or raise 404 alike for unknown messages and non-members."""
    if user.is_authenticated:
        message = (
            Message.objects.select_related("thread", "author", "generation")
            .filter(pk=message_id, thread__workspace__memberships__user=user)
            .first()
        )
        if message is not None:
            return message
    raise Http404("No such message.")


# Messages a page shows at first, and loads each time the reader scrolls to the top.
MESSAGE_PAGE_SIZE = 50


@dataclass
class MessagePage:
    """A run of a thread's messages, oldest first, and whether earlier ones exist."""

    thread_id: int
    messages: list[Message]
    has_earlier: bool

    @property
    def earliest_id(self) -> int | None:
        return self.messages[0].pk if self.messages else None


def message_page(
    *, thread: Thread, before: int | None = None, size: int = MESSAGE_PAGE_SIZE
) -> MessagePage:
    """The newest ``size`` messages (before message ``before``, if given), as clients show
    them: streaming answers at their newest text, queued ones with their place in the queue."""
    messages = Message.objects.filter(thread=thread)
    if before is not None:
        messages = messages.filter(pk__lt=before)
    newest = list(messages.select_related("author", "generation").order_by("-id")[: size + 1])
    shown = _as_shown(newest[:size][::-1])
    return MessagePage(thread_id=thread.pk, messages=shown, has_earlier=len(newest) > size)


def message_changes(*, thread: Thread, since: int) -> list[Message]:
    """What a client that has seen the thread up to revision ``since`` lacks, oldest first:
    every message that changed after it, and every answer still queued or streaming."""
    changed = Q(revision__gt=since) | Q(status__in=Message.ACTIVE_STATUSES)
    messages = Message.objects.filter(changed, thread=thread).select_related("author", "generation")
    return _as_shown(list(messages.order_by("id")))


def _as_shown(messages: list[Message]) -> list[Message]:
    streaming = [m for m in messages if m.status == Message.Status.STREAMING]
    live = live_text_get_many([m.pk for m in streaming])
    for message in streaming:
        seq, text = live.get(message.pk, (0, ""))
        if seq > message.last_seq:
            message.last_seq, message.body = seq, text
    return reply_queue_ahead(messages)


def reply_queue_ahead(messages: list[Message]) -> list[Message]:
    """Set ``queue_ahead`` on the queued replies among ``messages``: how many unfinished
    replies, in any thread, were asked for before each (they are served in that order)."""
    queued = [m for m in messages if m.status == Message.Status.QUEUED]
    if queued:
        active_ids = list(
            Message.objects.filter(
                role=Message.Role.ASSISTANT,
                status__in=Message.ACTIVE_STATUSES,
                pk__lt=max(m.pk for m in queued),
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        for message in queued:
            message.queue_ahead = bisect_left(active_ids, message.pk)
    return messages


def reply_list_queued() -> list[Message]:
    return reply_queue_ahead(
        list(Message.objects.filter(status=Message.Status.QUEUED).order_by("pk"))
    )
