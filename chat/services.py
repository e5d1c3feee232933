"""Writes to threads and messages. Each commits, then broadcasts (and enqueues) on commit."""

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from workspace.celery import app as celery_app
from workspace.models import Workspace

from . import events
from .mentions import mentions_assistant
from .models import Message, Thread
from .selectors import reply_queue_ahead

# The assistant's task, enqueued by name: chat never imports llm.
GENERATE_REPLY_TASK = "llm.generate_reply"


def thread_create(*, workspace: Workspace, title: str, created_by: User) -> Thread:
    return Thread.objects.create(workspace=workspace, title=title.strip(), created_by=created_by)


def message_body_clean(body: str) -> str:
    """Return the body to store, or raise ValidationError with a message for the sender."""
    body = body.strip()
    if not body:
        raise ValidationError("Write something before sending.")
    limit = settings.MESSAGE_MAX_LENGTH
    if len(body) > limit:
        raise ValidationError(
            f"That message is {len(body):,} characters long; the limit is {limit:,}."
        )
    return body


@transaction.atomic
def message_create(*, thread: Thread, author: User, body: str) -> Message:
    """Post a person's message; if it mentions the assistant, queue the assistant's reply."""
    body = message_body_clean(body)
    if mentions_assistant(body):
        _pending_questions_check(author)
    message = Message.objects.create(
        thread=thread, author=author, role=Message.Role.USER, body=body
    )
    transaction.on_commit(lambda: events.broadcast_message_created(message))
    if mentions_assistant(message.body):
        assistant_reply_queue(prompt=message)
    return message


def _pending_questions_check(author: User) -> None:
    limit = settings.ASSISTANT_MAX_PENDING_PER_USER
    pending = Message.objects.filter(
        role=Message.Role.ASSISTANT,
        status__in=[Message.Status.QUEUED, Message.Status.STREAMING],
        in_reply_to__author=author,
    ).count()
    if pending >= limit:
        raise ValidationError(
            f"You already have {pending} questions waiting for the assistant (the limit is "
            f"{limit}). Send this once one is answered, or stop one."
        )


def assistant_reply_queue(*, prompt: Message) -> Message:
    """Create a queued assistant message answering ``prompt`` and enqueue its generation."""
    reply = Message.objects.create(
        thread=prompt.thread,
        role=Message.Role.ASSISTANT,
        in_reply_to=prompt,
        status=Message.Status.QUEUED,
    )
    transaction.on_commit(lambda: events.broadcast_message_created(reply_queue_ahead([reply])[0]))
    transaction.on_commit(lambda: reply_enqueue(reply))
    return reply


def reply_enqueue(reply: Message) -> None:
    """Hand the reply to the model workers. Safe to repeat: only one attempt can start it."""
    celery_app.send_task(GENERATE_REPLY_TASK, args=[reply.pk])


def message_edit(*, message: Message, by: User, body: str) -> Message:
    """The author changes their message; everyone sees the new text, marked as edited."""
    _authored_check(message, by)
    message.body = message_body_clean(body)
    message.edited_at = timezone.now()
    message.save(update_fields=["body", "edited_at", "updated_at"])
    transaction.on_commit(lambda: events.broadcast_message_changed(message))
    return message


def message_delete(*, message: Message, by: User) -> Message:
    """The author deletes their message: its text is gone, a tombstone keeps its place."""
    _authored_check(message, by)
    message.body = ""
    message.deleted_at = timezone.now()
    message.save(update_fields=["body", "deleted_at", "updated_at"])
    transaction.on_commit(lambda: events.broadcast_message_changed(message))
    return message


def _authored_check(message: Message, by: User) -> None:
    if message.is_assistant or message.author_id != by.pk:
        raise PermissionDenied("Only its author can change a message.")
    if message.deleted_at is not None:
        raise ValidationError("That message was deleted.")
