"""Writes to people's inboxes. Each commits, then tells the person's pages on commit.

Notifications are made after the change they report has committed (``receivers`` defers each
call with ``transaction.on_commit``), in a transaction of their own: a notification that
cannot be made never undoes the message, answer or write it was about.

Only members of the workspace are notified, and only of what their settings ask for
(``selectors.notification_recipients``, checked at the moment of notifying).

A notification is also pushed to each device its person turned push on in for its workspace
(``PushSubscription``): by the ``notifications.push`` task, on the housekeeping queue, sent
after the notification has committed, never from the request that caused it.
"""

import logging

from celery import current_app as celery_app
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable

from chat.models import Message
from documents.models import DocumentWrite
from jobs.models import ModelJob
from workspace.models import Workspace

from . import events
from .models import Notification, NotificationSettings, PushSubscription
from .push import Delivery, SubscriptionInfo, push_payload, push_send
from .selectors import (
    notification_recipients,
    notification_settings_of,
    notification_unread_count,
)

logger = logging.getLogger(__name__)

EXCERPT_LENGTH = 120
PUSH_TASK = "notifications.push"


def notifications_for_mention(*, message_id: int, person_ids: list[int]) -> list[Notification]:
    """Tell the members a person's message mentions (never its author)."""
    message = Message.objects.select_related("thread", "author").filter(pk=message_id).first()
    if message is None or message.author is None or message.deleted_at is not None:
        return []
    thread = message.thread
    return _notify(
        person_ids=[pk for pk in person_ids if pk != message.author_id],
        kind=Notification.Kind.MENTION,
        workspace_id=thread.workspace_id,
        target_url=_message_url(message),
        text=f"{message.author.get_username()} mentioned you in {thread.title}: "
        f"“{_excerpt(message.body)}”",
    )


def notification_for_answer_end(*, answer_id: int) -> list[Notification]:
    """Tell whoever asked for an answer that it ended: done, failed, interrupted, or stopped
    by someone else (not when they stopped it themselves)."""
    answer = (
        Message.objects.select_related("thread", "job", "assistant").filter(pk=answer_id).first()
    )
    if answer is None or answer.requested_by_id is None:
        return []
    if (ended := _ended_for_asker(answer.job, answer.requested_by_id)) is None:
        return []
    who, where = answer.speaker_name, answer.thread.title
    text = {
        ModelJob.Status.DONE: f"{who} answered you in {where}",
        ModelJob.Status.STOPPED: f"{who}’s answer to you in {where} was {ended.stop_reason}",
        ModelJob.Status.FAILED: f"{who} could not answer you in {where}",
        ModelJob.Status.INTERRUPTED: f"{who}’s answer to you in {where} was interrupted",
    }[ModelJob.Status(ended.status)]
    return _notify(
        person_ids=[answer.requested_by_id],
        kind=Notification.Kind.ANSWER,
        workspace_id=answer.thread.workspace_id,
        target_url=_message_url(answer),
        text=text,
    )


def _ended_for_asker(job: ModelJob | None, asker_id: int) -> ModelJob | None:
    """``job`` if it has ended and whoever asked for it is to be told: not when they
    stopped it themselves."""
    if job is None or job.is_active:
        return None
    if job.status == ModelJob.Status.STOPPED and job.stopped_by_id == asker_id:
        return None
    return job


def notification_for_write_end(*, write_id: int) -> list[Notification]:
    """Tell whoever asked the assistant to write into a document that it has ended, as for
    answers."""
    write = (
        DocumentWrite.objects.select_related("document", "job", "stopped_by")
        .filter(pk=write_id)
        .first()
    )
    if write is None or write.requested_by_id is None:
        return []
    if (ended := _ended_for_asker(write.job, write.requested_by_id)) is None:
        return []
    who, where = settings.ASSISTANT_NAME, write.document.title
    stopper = write.stopped_by.get_username() if write.stopped_by else "someone"
    text = {
        ModelJob.Status.DONE: f"{who} finished writing in {where}",
        ModelJob.Status.STOPPED: f"{who}’s writing in {where} was stopped by {stopper}",
        ModelJob.Status.FAILED: f"{who} could not write in {where}",
        ModelJob.Status.INTERRUPTED: f"{who}’s writing in {where} was interrupted",
    }[ModelJob.Status(ended.status)]
    return _notify(
        person_ids=[write.requested_by_id],
        kind=Notification.Kind.DOCUMENT_WRITE,
        workspace_id=write.document.workspace_id,
        target_url=reverse("document-detail", args=[write.document_id]),
        text=text,
    )


def notification_mark_read(*, notification: Notification) -> Notification:
    """Mark one of the person's notifications read; their other pages' bells follow."""
    if notification.read_at is None:
        notification.read_at = timezone.now()
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(
            read_at=notification.read_at
        )
        _unread_changed(notification.recipient_id)
    return notification


def notifications_mark_all_read(*, person: User) -> int:
    """Mark all the person's notifications read; how many were unread."""
    marked = Notification.objects.filter(recipient=person, read_at__isnull=True).update(
        read_at=timezone.now()
    )
    if marked:
        _unread_changed(person.pk)
    return marked


def notification_settings_set(*, person: User, level: str) -> NotificationSettings:
    """What the person wants to be notified of from now on (``NotificationSettings.Level``)."""
    chosen = NotificationSettings(person=person, level=level)
    chosen.full_clean(exclude=["person"])
    NotificationSettings.objects.update_or_create(person=person, defaults={"level": level})
    return chosen


def notifications_workspace_left(*, person_id: int, workspace_id: int) -> int:
    """The person is no longer in the workspace: its notifications go (none are made for
    them any more, as only members are notified). How many were deleted."""
    PushSubscription.objects.filter(person_id=person_id, workspace_id=workspace_id).delete()
    deleted, _ = Notification.objects.filter(
        recipient_id=person_id, workspace_id=workspace_id
    ).delete()
    if deleted:
        _unread_changed(person_id)
    return deleted


def push_subscription_save(
    *, person: User, workspace: Workspace, info: SubscriptionInfo, session_key: str, device: str
) -> PushSubscription:
    """Push the person's notifications from ``workspace`` to the browser that gave ``info``
    (the caller checked they are a member), until they sign out of ``session_key``. A browser is
    one person's: whoever turned push on in it before gets nothing more there."""
    fields = {
        "p256dh": info.p256dh,
        "auth": info.auth,
        "device": device[: PushSubscription._meta.get_field("device").max_length],
        "session": PushSubscription.session_digest(session_key),
    }
    with transaction.atomic():
        PushSubscription.objects.filter(endpoint=info.endpoint).exclude(person=person).delete()
        subscription, _ = PushSubscription.objects.update_or_create(
            person=person, workspace=workspace, endpoint=info.endpoint, defaults=fields
        )
    return subscription


def push_subscription_remove(*, person: User, workspace: Workspace, endpoint: str) -> int:
    """Push nothing more from ``workspace`` to that browser; how many were removed (0 or 1)."""
    deleted, _ = PushSubscription.objects.filter(
        person=person, workspace=workspace, endpoint=endpoint
    ).delete()
    return deleted


def push_subscriptions_signed_out(*, person_id: int, session_key: str) -> int:
    """The person signed out of a browser: what they turned on in that session pushes no more
    there (the next person at that computer would see it). How many were removed."""
    deleted, _ = PushSubscription.objects.filter(
        person_id=person_id, session=PushSubscription.session_digest(session_key)
    ).delete()
    return deleted


def notification_push(*, notification_id: int) -> dict[Delivery, int]:
    """Push a notification to each device its person turned push on in for its workspace,
    unless it was read meanwhile or their settings no longer want it. A device whose push
    service says it is gone is forgotten. How many deliveries ended each way."""
    outcomes = dict.fromkeys(Delivery, 0)
    notification = (
        Notification.objects.select_related("workspace", "recipient__notification_settings")
        .filter(pk=notification_id, read_at__isnull=True)
        .first()
    )
    if notification is None:
        return outcomes
    if not notification_settings_of(notification.recipient).wants(notification.kind):
        return outcomes
    payload = push_payload(notification)
    for subscription in PushSubscription.objects.filter(
        person_id=notification.recipient_id, workspace_id=notification.workspace_id
    ):
        outcome = push_send(subscription, payload)
        outcomes[outcome] += 1
        if outcome is Delivery.GONE:
            subscription.delete()
    return outcomes


def _notify(
    *, person_ids: list[int], kind: str, workspace_id: int, target_url: str, text: str
) -> list[Notification]:
    recipients = notification_recipients(
        person_ids=person_ids, workspace_id=workspace_id, kind=kind
    )
    if not recipients:
        return []
    with transaction.atomic():
        made = [
            Notification.objects.create(
                recipient_id=person_id,
                kind=kind,
                workspace_id=workspace_id,
                target_url=target_url,
                text=text[: Notification._meta.get_field("text").max_length],
            )
            for person_id in recipients
        ]
        transaction.on_commit(lambda: _pushes_enqueue(made, workspace_id=workspace_id), robust=True)
        transaction.on_commit(lambda: _published(made))
    return made


def _published(made: list[Notification]) -> None:
    for notification in made:
        recipient = User(pk=notification.recipient_id)
        unread = notification_unread_count(person=recipient)
        events.notification_publish(notification, unread=unread)


def _pushes_enqueue(made: list[Notification], *, workspace_id: int) -> None:
    """One push task per notification whose person has a device subscribed for the workspace."""
    subscribed = set(
        PushSubscription.objects.filter(
            workspace_id=workspace_id, person_id__in=[n.recipient_id for n in made]
        ).values_list("person_id", flat=True)
    )
    for notification in made:
        if notification.recipient_id in subscribed:
            try:
                celery_app.send_task(PUSH_TASK, args=[notification.pk])
            except BrokerUnavailable:  # the notification is kept; only the push is lost
                logger.warning("Push for %s not sent: the broker is away", notification)


def _unread_changed(person_id: int) -> None:
    def tell() -> None:
        events.unread_publish(
            person_id, unread=notification_unread_count(person=User(pk=person_id))
        )

    transaction.on_commit(tell)


def _message_url(message: Message) -> str:
    return reverse("thread-detail", args=[message.thread_id]) + f"#{message.dom_id}"


def _excerpt(body: str) -> str:
    line = " ".join(body.split())
    return line if len(line) <= EXCERPT_LENGTH else line[: EXCERPT_LENGTH - 1] + "…"
