"""Reads about threads and messages, always on behalf of a user."""

from dataclasses import dataclass
from typing import Any, TypedDict

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django_stubs_ext import WithAnnotations

from jobs.models import ModelJob
from jobs.selectors import job_places
from workspace.models import Workspace

from .mentions import PersonMention, default_handle, mentioned_handles
from .message_read import MessageRead
from .models import Assistant, Message, Thread, ThreadRead
from .streaming_state import live_text_get_many


def thread_list(*, workspace: Workspace) -> QuerySet[Thread]:
    return workspace.threads.select_related("created_by")


def thread_list_by_activity(*, workspace: Workspace) -> QuerySet[Thread]:
    """The workspace's threads, the most recently active first (one indexed query)."""
    return workspace.threads.order_by("-last_activity_at", "-id")


class ThreadUnread(TypedDict):
    unread: int  # messages of other people the reader has not read
    newest_message_id: int  # the thread's newest message (0: none)


def thread_list_with_unread(
    *, workspace: Workspace, reader: User
) -> "QuerySet[WithAnnotations[Thread, ThreadUnread]]":
    """``thread_list_by_activity``, and how far ``reader`` is behind in each thread: counted
    in the same query, by correlated subqueries on the indexes of messages (thread, id) and
    of reads (user, thread)."""
    read_up_to = ThreadRead.objects.filter(user=reader, thread=OuterRef(OuterRef("pk"))).values(
        "last_read_message_id"
    )[:1]
    unread = (
        Message.objects.filter(_unread_by(reader))
        .filter(thread=OuterRef("pk"), pk__gt=Coalesce(Subquery(read_up_to), 0))
        .order_by()
        .values("thread")
        .annotate(count=Count("pk"))
        .values("count")
    )
    newest = Message.objects.filter(thread=OuterRef("pk")).order_by("-pk").values("pk")[:1]
    return thread_list_by_activity(workspace=workspace).annotate(
        unread=Coalesce(Subquery(unread), 0), newest_message_id=Coalesce(Subquery(newest), 0)
    )


@dataclass(frozen=True)
class UnreadCount:
    count: int
    newest_message_id: int  # the newest message of the thread when counted (0: none)


def thread_unread_count(
    *, thread_id: int, reader: User, read_up_to: int | None = None
) -> UnreadCount:
    """How many messages in the thread ``reader`` has not read, having read up to message
    ``read_up_to`` (None: as far as their stored mark says) (one query)."""
    mark = ThreadRead.objects.filter(user=reader, thread_id=thread_id)
    up_to: int | Coalesce = (
        read_up_to
        if read_up_to is not None
        else Coalesce(Subquery(mark.values("last_read_message_id")[:1]), 0)
    )
    figures = Message.objects.filter(thread_id=thread_id).aggregate(
        newest=Max("pk"),
        count=Count("pk", filter=_unread_by(reader) & Q(pk__gt=up_to)),
    )
    return UnreadCount(count=figures["count"], newest_message_id=figures["newest"] or 0)


def thread_read_up_to(*, thread: Thread, reader: User) -> int:
    """The newest message ``reader`` has read in the thread (0: none yet)."""
    read = ThreadRead.objects.filter(user=reader, thread=thread).first()
    return read.last_read_message_id if read else 0


def _unread_by(reader: User) -> Q:
    """What counts as unread: people's messages and ended answers (done, stopped, failed:
    an answer is news when there is something to read, not while it is being written), not
    deleted, not the reader's own."""
    return (
        Q(deleted_at__isnull=True)
        & ~Q(status__in=Message.ACTIVE_STATUSES)
        & (Q(author__isnull=True) | ~Q(author=reader))
    )


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
            Message.objects.select_related("thread", "author", "assistant", "generation")
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
    messages: list[MessageRead]
    has_earlier: bool

    @property
    def earliest_id(self) -> int | None:
        return self.messages[0].id if self.messages else None


def message_page(
    *, thread: Thread, before: int | None = None, size: int = MESSAGE_PAGE_SIZE
) -> MessagePage:
    """The newest ``size`` messages (before message ``before``, if given), as everyone is
    shown them (``messages_read``)."""
    messages = Message.objects.filter(thread=thread)
    if before is not None:
        messages = messages.filter(pk__lt=before)
    newest = list(
        messages.select_related("author", "assistant", "generation").order_by("-id")[: size + 1]
    )
    shown = messages_read(newest[:size][::-1], workspace_id=thread.workspace_id)
    return MessagePage(thread_id=thread.pk, messages=shown, has_earlier=len(newest) > size)


def message_changes(*, thread: Thread, since: int) -> list[MessageRead]:
    """What a client that has seen the thread up to revision ``since`` lacks, oldest first:
    every message that changed after it, and every answer still queued or streaming."""
    changed = Q(revision__gt=since) | Q(status__in=Message.ACTIVE_STATUSES)
    messages = Message.objects.filter(changed, thread=thread).select_related(
        "author", "assistant", "generation"
    )
    return messages_read(list(messages.order_by("id")), workspace_id=thread.workspace_id)


def messages_read(messages: list[Message], *, workspace_id: int | None = None) -> list[MessageRead]:
    """``messages`` as everyone is shown them (``chat.message_read``): a streaming answer at
    its newest text, which the cache holds up to a second ahead of the database; a queued
    one with its place in its queue; a person's with the members it mentions. A few queries
    for them all, whatever their number. ``workspace_id``: theirs, if the caller knows it."""
    streaming = [m.pk for m in messages if m.status == Message.Status.STREAMING]
    live = live_text_get_many(streaming)
    reply_queue_ahead([m for m in messages if m.queue_ahead is None])
    people = [m for m in messages if not m.is_assistant and m.mentioned is None]
    if people:
        workspace_id = workspace_id or people[0].thread.workspace_id
        messages_mentions_resolve(people, workspace_id=workspace_id)
    shown = [MessageRead.from_message(message) for message in messages]
    return [read.with_newest_text(*live[read.id]) if read.id in live else read for read in shown]


def message_read(message: Message) -> MessageRead:
    """One message as everyone is shown it (``messages_read``)."""
    return messages_read([message])[0]


def message_read_by_id(message_id: int) -> MessageRead | None:
    """``message_read`` of the message ``message_id``, for whoever was let see it already
    (a socket or a stream of its thread); None if there is no such message."""
    message = (
        Message.objects.select_related("author", "assistant", "generation")
        .filter(pk=message_id)
        .first()
    )
    return message_read(message) if message is not None else None


def reply_queue_ahead(messages: list[Message]) -> list[Message]:
    """Set ``queue_ahead`` on the queued replies among ``messages``: how many jobs are ahead
    of each on its model's queue in its workspace (``jobs.selectors.job_places``)."""
    queued = [m for m in messages if m.status == Message.Status.QUEUED and m.job_id is not None]
    if not queued:
        return messages
    jobs = [m.job for m in queued] if all(Message.job.is_cached(m) for m in queued) else None
    if jobs is None:  # one query, not one per reply
        jobs = list(ModelJob.objects.filter(pk__in=[m.job_id for m in queued]))
    places = job_places([job for job in jobs if job is not None])
    for message in queued:
        message.queue_ahead = places.get(message.job_id)  # type: ignore[arg-type]
    return messages


def thread_source_choices(thread: Thread) -> QuerySet[Any]:
    """The workspace's knowledge sources a thread may limit its answers to (the model by its
    label: chat does not import knowledge)."""
    source_model: Any = Thread._meta.get_field("chosen_sources").related_model
    return source_model.objects.filter(workspace_id=thread.workspace_id).order_by("title")


def assistant_list(*, workspace: Workspace) -> QuerySet[Assistant]:
    return workspace.assistants.select_related("model")


def assistant_get_for_member(*, user: User | AnonymousUser, assistant_id: int) -> Assistant:
    """Return the assistant, or raise 404 alike for unknown assistants and non-members."""
    if user.is_authenticated:
        assistant = (
            Assistant.objects.select_related("workspace", "model")
            .filter(pk=assistant_id, workspace__memberships__user=user)
            .first()
        )
        if assistant is not None:
            return assistant
    raise Http404("No such assistant.")


@dataclass
class Mentions:
    """Who a message mentions, in the order mentioned."""

    assistants: list[Assistant | None]  # None: the installation's default assistant
    people: list[PersonMention]  # members of the workspace
    unknown: list[str]  # handles that are neither

    @property
    def anyone(self) -> bool:
        return bool(self.assistants or self.people or self.unknown)

    @property
    def members(self) -> list[str]:
        """The mentioned members' usernames, lowercased."""
        return [person["username"].lower() for person in self.people]


def mentions_resolve(*, workspace: Workspace, body: str) -> Mentions:
    """The assistants and members of ``workspace`` that ``body`` mentions, and who is unknown."""
    handles = mentioned_handles(body)
    if not handles:
        return Mentions(assistants=[], people=[], unknown=[])
    by_handle = {
        a.handle: a for a in assistant_list(workspace=workspace).filter(handle__in=handles)
    }
    members = _members_by_name(workspace.pk)
    mentions = Mentions(assistants=[], people=[], unknown=[])
    for handle in handles:
        if handle == default_handle():
            mentions.assistants.append(None)
        elif handle in by_handle:
            mentions.assistants.append(by_handle[handle])
        elif member := _member_mentioned(handle, set(members), body.lower()):
            if members[member] not in mentions.people:
                mentions.people.append(members[member])
        else:
            mentions.unknown.append(handle)
    return mentions


def _members_by_name(workspace_id: int) -> dict[str, PersonMention]:
    """The workspace's members by lowercased username."""
    members = User.objects.filter(memberships__workspace_id=workspace_id).values_list(
        "id", "username"
    )
    return {name.lower(): {"id": pk, "username": name} for pk, name in members}


def messages_mentions_resolve(messages: list[Message], *, workspace_id: int) -> list[Message]:
    """Set ``mentioned`` on each person's message: the members of the workspace its text
    mentions, as of now (someone who left is no longer linked). One query, and only when
    some message has an ``@`` in it."""
    people_messages = [m for m in messages if not m.is_assistant]
    for message in people_messages:
        message.mentioned = []
    written = [m for m in people_messages if "@" in m.body and not m.deleted_at]
    if not written:
        return messages
    members = _members_by_name(workspace_id)
    for message in written:
        body = message.body.lower()
        found = (
            _member_mentioned(handle, set(members), body) for handle in mentioned_handles(body)
        )
        message.mentioned = list({name: members[name] for name in found if name}.values())
    return messages


def _member_mentioned(handle: str, usernames: set[str], body: str) -> str | None:
    """The member ``handle`` stands for; usernames may go on past a handle's characters
    (``@j.doe`` is read as the handle ``j``), so those are matched as written in the body."""
    if handle in usernames:
        return handle
    longer = (name for name in usernames if name.startswith(handle) and f"@{name}" in body)
    return next(longer, None)


def mentions_unknown_hint(*, workspace: Workspace, mentions: Mentions) -> str:
    """What to tell someone whose message mentions handles nobody here answers to."""
    if not mentions.unknown:
        return ""
    unknown = ", ".join(f"@{handle}" for handle in mentions.unknown)
    handles = ", ".join(f"@{handle}" for handle in assistant_handles(workspace=workspace))
    return f"Nobody here answers to {unknown}. The assistants here are {handles}."


def assistant_handles(*, workspace: Workspace) -> list[str]:
    """Every assistant's handle in ``workspace``: the default's first."""
    handles = assistant_list(workspace=workspace).values_list("handle", flat=True)
    return [default_handle(), *handles]


@dataclass(frozen=True)
class HandleSuggestion:
    handle: str
    label: str  # what the handle stands for: an assistant's name, or "member"


# Suggestions the composer shows at once, at most.
SUGGESTIONS_SHOWN = 8


def handle_suggestions(*, workspace: Workspace, prefix: str) -> list[HandleSuggestion]:
    """Assistants, then members, whose handle starts with ``prefix`` (case-insensitive)."""
    prefix = prefix.lower()
    found = []
    if default_handle().startswith(prefix):
        found.append(HandleSuggestion(default_handle(), f"{settings.ASSISTANT_NAME} (default)"))
    for assistant in assistant_list(workspace=workspace).filter(handle__startswith=prefix):
        found.append(HandleSuggestion(assistant.handle, assistant.display_name))
    usernames = (
        workspace.members.filter(username__istartswith=prefix)
        .order_by("username")
        .values_list("username", flat=True)
    )
    found += [HandleSuggestion(name, "member") for name in usernames[:SUGGESTIONS_SHOWN]]
    return found[:SUGGESTIONS_SHOWN]
