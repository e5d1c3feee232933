"""The answer's Celery task, run by the model worker (``llm.*`` tasks go to a model's queue:
``llm.routing``). It hands its job to a thread of its own (``jobs.threads``) and returns once
it runs, so the worker's engine decodes several jobs together."""

from celery import shared_task

from jobs.threads import job_threads_run

from .answers import reply_generate


@shared_task(name="llm.generate_reply", ignore_result=True)
def generate_reply(reply_id: int) -> None:
    """Generate an assistant reply. Safe to run twice: only a queued reply is generated."""
    job_threads_run(lambda: reply_generate(reply_id=reply_id), name=f"reply-{reply_id}")
