"""The housekeeping of model jobs, run by Celery beat on the ``housekeeping`` queue.

Not on a model's queue: the worker that died is the one that would run it.
"""

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from .services import jobs_sweep


@shared_task(name="jobs.sweep", ignore_result=True)
def sweep() -> None:
    """Nothing waits forever: silent jobs end as interrupted, lost queue entries come back."""
    jobs_sweep(
        silent_for=timedelta(seconds=settings.REPLY_STALE_AFTER_S),
        waiting_for=timedelta(seconds=settings.REPLY_REQUEUE_AFTER_S),
    )
