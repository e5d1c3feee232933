"""The inbox's real-time contract: its event types and their payloads, defined once.

Events go to the recipient's inbox topic (``inbox.<user id>``, ``realtime.topics``), which the
bell's socket on each of their pages follows (``consumers.InboxConsumer``); each web process
turns an event into HTML once for all that person's sockets (``rendering.InboxRenderer``).

==================  ===============================================================
event type          meaning and payload (every event: ``type``, ``topic``)
==================  ===============================================================
inbox.notification  a notification was created: ``notification``, what the inbox
                    shows of it (``NotificationData``), and ``unread``, the
                    person's unread count after it
inbox.unread        the unread count changed otherwise (read here or on another
                    device, all marked read, a workspace left): ``unread``
==================  ===============================================================

Only this module publishes them, and only after the change has committed.
"""

from typing import TypedDict

from realtime.contract import EventModel
from realtime.publish import publish
from realtime.topics import inbox_topic

from .models import Notification


class NotificationData(TypedDict):
    id: int
    kind: str
    text: str
    url: str  # a path on this site
    workspace: str  # its name
    created_at: str  # ISO 8601


class NotificationAdded(EventModel):
    type = "inbox.notification"
    notification: NotificationData
    unread: int


class UnreadChanged(EventModel):
    type = "inbox.unread"
    unread: int


def notification_data(notification: Notification) -> NotificationData:
    return {
        "id": notification.pk,
        "kind": notification.kind,
        "text": notification.text,
        "url": notification.target_url,
        "workspace": notification.workspace.name,
        "created_at": notification.created_at.isoformat(),
    }


def notification_publish(notification: Notification, *, unread: int) -> None:
    event = NotificationAdded(notification=notification_data(notification), unread=unread)
    publish(inbox_topic(notification.recipient_id), event)


def unread_publish(person_id: int, *, unread: int) -> None:
    publish(inbox_topic(person_id), UnreadChanged(unread=unread))
