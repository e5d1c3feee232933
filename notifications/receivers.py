"""Where notifications come from: chat's and documents' signals, and memberships ending; and
what ends a browser's pushes: signing out of it.

Each signal is sent inside the transaction that makes its change; the receivers only take
ids from it and make the notifications once it has committed (``robust``: a notification that
fails is logged, and never fails the write that caused it, nor the other on-commit work).
"""

from typing import Any

from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.http import HttpRequest

from chat.models import Message
from chat.signals import answer_ended, message_edited, message_posted
from documents.models import DocumentWrite
from documents.signals import write_ended
from jobs.models import ModelJob
from workspace.models import Membership

from . import services


@receiver(message_posted)
def _message_posted(sender: Any, message: Message, mentioned: list[int], **kwargs: Any) -> None:
    _mentioned(message, mentioned)


@receiver(message_edited)
def _message_edited(
    sender: Any, message: Message, newly_mentioned: list[int], **kwargs: Any
) -> None:
    _mentioned(message, newly_mentioned)


def _mentioned(message: Message, mentioned: list[int]) -> None:
    if mentioned:
        message_id = message.pk
        transaction.on_commit(
            lambda: services.notifications_for_mention(message_id=message_id, person_ids=mentioned),
            robust=True,
        )


@receiver(answer_ended)
def _answer_ended(sender: Any, answer: Message, job: ModelJob, **kwargs: Any) -> None:
    answer_id = answer.pk
    transaction.on_commit(
        lambda: services.notification_for_answer_end(answer_id=answer_id), robust=True
    )


@receiver(write_ended)
def _write_ended(sender: Any, write: DocumentWrite, job: ModelJob, **kwargs: Any) -> None:
    write_id = write.pk
    transaction.on_commit(
        lambda: services.notification_for_write_end(write_id=write_id), robust=True
    )


@receiver(post_delete, sender=Membership)
def _membership_ended(sender: Any, instance: Membership, **kwargs: Any) -> None:
    person_id, workspace_id = instance.user_id, instance.workspace_id
    transaction.on_commit(
        lambda: services.notifications_workspace_left(
            person_id=person_id, workspace_id=workspace_id
        ),
        robust=True,
    )


@receiver(user_logged_out)
def _signed_out(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    # Sent before the session is flushed, so its key still names the browser signing out.
    session_key = request.session.session_key
    if user is not None and session_key:
        services.push_subscriptions_signed_out(person_id=user.pk, session_key=session_key)
