"""Housekeeping tasks of the chat, run by Celery beat on the ``housekeeping`` queue.

They must not share a queue with the model: the worker that died is the one that would run them.
"""

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from .replies import reply_interrupt_stale, reply_requeue_waiting


@shared_task(name="chat.interrupt_stale_replies", ignore_result=True)
def interrupt_stale_replies() -> None:
    """Nothing waits forever: silent streams end as interrupted, lost queue entries come back."""
    reply_interrupt_stale(silent_for=timedelta(seconds=settings.REPLY_STALE_AFTER_S))
    reply_requeue_waiting(waiting_for=timedelta(seconds=settings.REPLY_REQUEUE_AFTER_S))
