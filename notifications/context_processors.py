from functools import partial
from typing import Any

from django.http import HttpRequest

from .selectors import notification_unread_count


def inbox(request: HttpRequest) -> dict[str, Any]:
    """The bell's unread count, counted only when a template shows it (one indexed query)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"inbox_unread": partial(notification_unread_count, person=user)}
