"""The inbox's Celery task: a notification pushed to its person's devices, on the housekeeping
queue (``notifications.*``), sent after the notification committed."""

from celery import shared_task

from .services import PUSH_TASK, notification_push


@shared_task(name=PUSH_TASK, ignore_result=True)
def push(notification_id: int) -> None:
    """No retry: a device that could not be reached gets the next notification, and the inbox
    keeps this one. Run twice, it pushes twice; the browser shows one (same ``tag``)."""
    notification_push(notification_id=notification_id)
