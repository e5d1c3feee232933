"""Writes to threads and messages. Each commits, then broadcasts (and enqueues) on commit."""

from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from jobs.services import job_create, job_enqueue
from workspace.models import Workspace
from workspace.rate_limit import rate_limit_wait

from . import events, signals
from .mentions import default_handle
from .models import ASSISTANT_FIELDS, Assistant, Message, Thread, ThreadRead
from .selectors import Mentions, mentions_resolve, thread_source_choices

# An answer is a model job of this kind; its task is enqueued by name: chat never imports llm.
ANSWER_KIND = "answer"
GENERATE_REPLY_TASK = "llm.generate_reply"


@transaction.atomic
def thread_create(*, workspace: Workspace, title: str, created_by: User) -> Thread:
    """Start a thread; every member's sidebar lists it at the top."""
    thread = Thread.objects.create(workspace=workspace, title=title.strip(), created_by=created_by)
    transaction.on_commit(lambda: events.broadcast_thread_active(thread))
    return thread


@transaction.atomic
def thread_settings_update(
    *,
    thread: Thread,
    by: User,
    answers_unaddressed: bool,
    answerer: Assistant | None,
    system_prompt_override: str,
    temperature_override: float | None,
    max_tokens_override: int | None,
    sources_use: str | None = None,
    chosen_source_ids: list[int] | None = None,
) -> Thread:
    """A member changes who answers the thread's unaddressed messages (``answerer`` None:
    the default assistant), the overrides of every answer's settings in it, and which of the
    workspace's sources answers may use (``sources_use``, and with "some" the chosen ones;
    None leaves them as they are); every member sees the change at once, and each answer
    records the settings it was written under."""
    if answerer is not None and answerer.workspace_id != thread.workspace_id:
        raise ValidationError({"answerer": "That assistant is not in this thread's workspace."})
    if sources_use is not None:
        thread.sources_use = sources_use
    if chosen_source_ids is not None:
        sources = thread_source_choices(thread).filter(pk__in=chosen_source_ids)
        if len(sources) != len(set(chosen_source_ids)):
            raise ValidationError({"chosen_sources": "Choose among this workspace's sources."})
        thread.chosen_sources.set(sources)
    thread.answers_unaddressed = answers_unaddressed
    thread.answerer = answerer
    thread.system_prompt_override = system_prompt_override.strip()
    thread.temperature_override = temperature_override
    thread.max_tokens_override = max_tokens_override
    thread.full_clean(exclude=["workspace", "title", "created_by"])
    thread.save(update_fields=[*THREAD_SETTINGS_FIELDS])
    changed_by = by.get_username()
    transaction.on_commit(lambda: events.broadcast_thread_settings_changed(thread, by=changed_by))
    return thread


THREAD_SETTINGS_FIELDS = (
    "answers_unaddressed",
    "answerer",
    "system_prompt_override",
    "temperature_override",
    "max_tokens_override",
    "sources_use",
)


def message_body_clean(body: str) -> str:
    """Return the body to store, or raise ValidationError with a message for the sender."""
    body = body.strip()
    if not body:
        raise ValidationError("Write something before sending.")
    if "\x00" in body or _has_lone_surrogate(body):
        raise ValidationError("That message contains characters that are not text (e.g. NUL).")
    limit = settings.MESSAGE_MAX_LENGTH
    if len(body) > limit:
        raise ValidationError(
            f"That message is {len(body):,} characters long; the limit is {limit:,}."
        )
    return body


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


@transaction.atomic
def message_create(*, thread: Thread, author: User, body: str) -> Message:
    """Post a person's message; if it mentions the assistant, queue the assistant's reply."""
    body = message_body_clean(body)
    posting_rate_check(author)
    message = Message.objects.create(
        thread=thread,
        author=author,
        role=Message.Role.USER,
        body=body,
        revision=Thread.objects.revision_take(thread.pk),
    )
    mentions = mentions_resolve(workspace=thread.workspace, body=body)
    message.mentioned = mentions.people
    transaction.on_commit(lambda: events.broadcast_message_created(message))
    thread_activity_record(thread=thread, message=message, at=message.created_at)
    mentioned = [person["id"] for person in mentions.people if person["id"] != author.pk]
    signals.message_posted.send(sender=Message, message=message, mentioned=mentioned)
    for assistant in answerers_of(thread=thread, body=body, mentions=mentions):
        assistant_reply_queue(prompt=message, requested_by=author, assistant=assistant)
    return message


def thread_activity_record(*, thread: Thread, message: Message, at: datetime) -> None:
    """In the transaction that added ``message`` (a person's) or ended it (an answer): the
    thread moves to the top of its workspace's sidebars, where the message counts as unread
    for the members who have not read it (``selectors.thread_list_with_unread``)."""
    thread.last_activity_at = at
    Thread.objects.filter(pk=thread.pk).update(last_activity_at=at)
    transaction.on_commit(lambda: events.broadcast_thread_active(thread, message=message))


@transaction.atomic
def thread_read_mark(*, thread: Thread, reader: User, message_id: int) -> ThreadRead:
    """``reader`` was shown the thread up to message ``message_id``: their unread messages
    there end at it. It only moves forward (an older page's report changes nothing); when it
    moves, their other pages are told, on commit."""
    if not Message.objects.filter(thread=thread, pk=message_id).exists():
        raise ValidationError("There is no such message in this thread.")
    read, created = ThreadRead.objects.select_for_update().get_or_create(
        user=reader, thread=thread, defaults={"last_read_message_id": message_id}
    )
    if not created:
        if read.last_read_message_id >= message_id:
            return read
        read.last_read_message_id = message_id
        read.save(update_fields=["last_read_message_id", "updated_at"])
    workspace_id = thread.workspace_id
    transaction.on_commit(lambda: events.broadcast_thread_read(read, workspace_id=workspace_id))
    return read


def answerers_of(
    *, thread: Thread, body: str, mentions: Mentions | None = None
) -> list[Assistant | None]:
    """Who answers a message: every assistant it mentions, in order (None being the default
    assistant); or, for a message that mentions nobody, the thread's answerer if it has one.
    ``mentions``: the body's, when the caller has resolved them already."""
    if mentions is None:
        mentions = mentions_resolve(workspace=thread.workspace, body=body)
    if mentions.assistants:
        return mentions.assistants
    if thread.answers_unaddressed and not mentions.anyone:
        return [thread.answerer]
    return []


def posting_rate_check(author: User) -> None:
    """Refuse a post over the author's rate limit, whichever socket or replica it came from."""
    limit, window_s = settings.MESSAGE_RATE_LIMIT, settings.MESSAGE_RATE_WINDOW_S
    wait = rate_limit_wait(f"post:{author.pk}", limit=limit, window_s=window_s)
    if wait:
        raise ValidationError(
            f"You are sending messages too fast (at most {limit} every {window_s} seconds). "
            f"Try again in {wait} s."
        )


def assistant_reply_queue(
    *, prompt: Message, requested_by: User, assistant: Assistant | None = None
) -> Message:
    """Create a queued answer of ``assistant`` (None: the default assistant) to ``prompt``
    and enqueue its model job.

    Every way of asking for an answer (a mention, Retry) comes through here. Raises
    ValidationError (``jobs.services.JobLimitReached``) when ``requested_by`` already has as
    many model jobs waiting as allowed.
    """
    switched_off = _switched_off_reason(assistant)
    job = None
    if not switched_off:
        job = job_create(
            kind=ANSWER_KIND,
            requested_by=requested_by,
            workspace_id=prompt.thread.workspace_id,
            model_id=assistant.model_id if assistant is not None else None,
        )
    reply = Message.objects.create(
        thread=prompt.thread,
        role=Message.Role.ASSISTANT,
        assistant=assistant,
        in_reply_to=prompt,
        requested_by=requested_by,
        job=job,
        status=Message.Status.FAILED if switched_off else Message.Status.QUEUED,
        error=switched_off,
        finished_at=timezone.now() if switched_off else None,
        revision=Thread.objects.revision_take(prompt.thread_id),
    )
    transaction.on_commit(lambda: events.broadcast_message_created(reply))
    if job is not None:
        job_enqueue(job)
    else:  # ended at once, as an answer that ran would end
        thread_activity_record(thread=prompt.thread, message=reply, at=timezone.now())
    return reply


def _switched_off_reason(assistant: Assistant | None) -> str:
    """Why ``assistant`` cannot answer at all (its model is switched off, so no worker serves
    it), said on the answer at once rather than left queued forever; empty if it can."""
    if assistant is None or assistant.model.enabled:
        return ""
    return (
        f"{assistant.display_name} cannot answer: its model {assistant.model.name} is switched "
        "off. An admin can switch it on (Language models, in the admin)."
    )


@transaction.atomic
def message_edit(*, message: Message, by: User, body: str) -> Message:
    """The author changes their message; everyone sees the new text, marked as edited. The
    members it mentions now and did not before are told, as if newly mentioned."""
    _authored_check(message, by)
    workspace = message.thread.workspace
    before = {p["id"] for p in mentions_resolve(workspace=workspace, body=message.body).people}
    message.body = message_body_clean(body)
    now = mentions_resolve(workspace=workspace, body=message.body).people
    newly = [person["id"] for person in now if person["id"] not in before | {by.pk}]
    signals.message_edited.send(sender=Message, message=message, newly_mentioned=newly)
    message.mentioned = None  # read again from the new text when it is shown
    message.edited_at = timezone.now()
    message.revision = Thread.objects.revision_take(message.thread_id)
    message.save(update_fields=["body", "edited_at", "revision", "updated_at"])
    transaction.on_commit(lambda: events.broadcast_message_changed(message))
    return message


@transaction.atomic
def message_delete(*, message: Message, by: User) -> Message:
    """The author deletes their message: its text is gone, a tombstone keeps its place."""
    _authored_check(message, by)
    message.body = ""
    message.deleted_at = timezone.now()
    message.revision = Thread.objects.revision_take(message.thread_id)
    message.save(update_fields=["body", "deleted_at", "revision", "updated_at"])
    transaction.on_commit(lambda: events.broadcast_message_changed(message))
    return message


def _authored_check(message: Message, by: User) -> None:
    if message.is_assistant or message.author_id != by.pk:
        raise PermissionDenied("Only its author can change a message.")
    if message.deleted_at is not None:
        raise ValidationError("That message was deleted.")


@transaction.atomic
def assistant_create(*, workspace: Workspace, created_by: User, **fields: object) -> Assistant:
    """A member adds an assistant to the workspace (``fields``: ``ASSISTANT_FIELDS``).

    Raises ValidationError, by field, for a handle that is taken or malformed, or a bad value.
    """
    assistant = Assistant(workspace=workspace, created_by=created_by)
    return _assistant_save(assistant, fields)


@transaction.atomic
def assistant_update(*, assistant: Assistant, **fields: object) -> Assistant:
    """A member changes an assistant; answers already written keep what produced them."""
    return _assistant_save(assistant, fields)


def _assistant_save(assistant: Assistant, fields: dict[str, object]) -> Assistant:
    unknown = set(fields) - set(ASSISTANT_FIELDS)
    if unknown:
        raise TypeError(f"Not an assistant's field: {', '.join(sorted(unknown))}")
    for name, value in fields.items():
        setattr(assistant, name, value)
    assistant.handle = assistant.handle.strip().lower()
    assistant.full_clean(validate_constraints=False)  # the handle's, with a clearer message:
    assistant_handle_free_check(assistant)
    assistant.save()
    return assistant


def assistant_handle_free_check(assistant: Assistant) -> None:
    """A handle names one participant: not the default assistant, not a member."""
    handle = assistant.handle
    if handle == default_handle():
        raise ValidationError({"handle": f"@{handle} is the installation's default assistant."})
    if assistant.workspace.members.filter(username__iexact=handle).exists():
        raise ValidationError({"handle": f"@{handle} is a member of this workspace."})
    others = Assistant.objects.filter(workspace=assistant.workspace, handle=handle)
    if others.exclude(pk=assistant.pk).exists():
        raise ValidationError({"handle": f"@{handle} is taken by another assistant here."})
