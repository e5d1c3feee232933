"""The assistant's Celery tasks, run by the model worker (``llm.*`` tasks go to a model's
queue: ``llm.routing``). Each hands its job to a thread of its own (``jobs.threads``) and
returns once it runs, so the worker's engine decodes several jobs together."""

from celery import shared_task

from jobs.threads import job_threads_run

from .answers import reply_generate
from .catch_up_job import catch_up_generate
from .catch_ups import CATCH_UP_TASK


@shared_task(name="llm.generate_reply", ignore_result=True)
def generate_reply(reply_id: int) -> None:
    """Generate an assistant reply. Safe to run twice: only a queued reply is generated."""
    job_threads_run(lambda: reply_generate(reply_id=reply_id), name=f"reply-{reply_id}")


@shared_task(name=CATCH_UP_TASK, ignore_result=True)
def catch_up(catch_up_id: int) -> None:
    """Write a person's catch-up. Safe to run twice: only a queued one is written."""
    job_threads_run(
        lambda: catch_up_generate(catch_up_id=catch_up_id), name=f"catch-up-{catch_up_id}"
    )
