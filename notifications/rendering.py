"""What the inbox's events become in the page: HTML fragments swapped in by id (out of band).

Made once per event in each web process (``InboxRenderer``, the inbox topic's ``prepare``),
from the event's data alone: nothing here reads the database on an event's way to sockets.
"""

from datetime import datetime

from django.template.loader import render_to_string

from realtime.fanout import Event

from .events import NotificationAdded, NotificationData, UnreadChanged
from .models import Notification


def unread_html(unread: int, *, oob: bool = True) -> str:
    return render_to_string("notifications/_unread.html", {"inbox_unread": unread, "oob": oob})


def notification_alert_html(data: NotificationData) -> str:
    """The new notification, for the page's script: it shows it as a browser notification
    while the tab is hidden, and adds it to the inbox list when the inbox is open."""
    notification = Notification(
        pk=data["id"],
        kind=data["kind"],
        text=data["text"],
        target_url=data["url"],
        created_at=datetime.fromisoformat(data["created_at"]),
    )
    return render_to_string(
        "notifications/_alert.html",
        {"notification": notification, "workspace_name": data["workspace"]},
    )


# Each event as the page shows it: the bell's count, and a new notification's alert.
_HTML = {
    NotificationAdded.type: lambda event: (
        unread_html(event["unread"]) + notification_alert_html(event["notification"])
    ),
    UnreadChanged.type: lambda event: unread_html(event["unread"]),
}


async def inbox_prepare(event: Event) -> Event | None:
    """The fan-out's ``prepare`` for an inbox topic: the event with its ``html``."""
    render = _HTML.get(event["type"])
    return event if render is None else {**event, "html": render(event)}
