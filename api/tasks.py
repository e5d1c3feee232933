"""The ``/v1`` completion's Celery task, run by the model worker (``llm.*`` tasks go to a
model's queue: ``llm.routing``) on a thread of its own (``jobs.threads``)."""

from celery import shared_task

from jobs.threads import job_threads_run

from .completion_generation import completion_generate


@shared_task(name="llm.complete_chat", ignore_result=True)
def complete_chat(job_id: int) -> None:
    """An OpenAI-compatible chat completion. Safe to run twice: only a queued job runs."""
    job_threads_run(lambda: completion_generate(job_id=job_id), name=f"completion-{job_id}")
