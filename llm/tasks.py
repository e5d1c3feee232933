"""Celery tasks of the model worker (queue ``llm`` and one per model: ``llm.routing``).

Each hands its job to a thread of its own (``llm.job_threads``) and returns once it runs,
so the worker's engine decodes several jobs together.
"""

from celery import shared_task

from .completions import completion_generate
from .document_writing import document_write_generate
from .generation import reply_generate
from .job_threads import job_threads_run


@shared_task(name="llm.generate_reply", ignore_result=True)
def generate_reply(reply_id: int) -> None:
    """Generate an assistant reply. Safe to run twice: only a queued reply is generated."""
    job_threads_run(lambda: reply_generate(reply_id=reply_id), name=f"reply-{reply_id}")


@shared_task(name="llm.write_document", ignore_result=True)
def write_document(write_id: int) -> None:
    """Write into a document as its co-author. Safe to run twice: only a queued write runs."""
    job_threads_run(lambda: document_write_generate(write_id=write_id), name=f"write-{write_id}")


@shared_task(name="llm.complete_chat", ignore_result=True)
def complete_chat(job_id: int) -> None:
    """An OpenAI-compatible chat completion. Safe to run twice: only a queued job runs."""
    job_threads_run(lambda: completion_generate(job_id=job_id), name=f"completion-{job_id}")
