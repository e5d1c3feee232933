"""Documents' Celery tasks: the assistant's write, run by the model worker (``llm.*`` tasks go
to a model's queue: ``llm.routing``) on a thread of its own (``jobs.threads``), and the
housekeeping Celery beat runs on the ``housekeeping`` queue."""

from celery import shared_task

from jobs.threads import job_threads_run

from .services import documents_tidy
from .write_job import document_write_generate


@shared_task(name="llm.write_document", ignore_result=True)
def write_document(write_id: int) -> None:
    """Write into a document as its co-author. Safe to run twice: only a queued write runs."""
    job_threads_run(lambda: document_write_generate(write_id=write_id), name=f"write-{write_id}")


@shared_task(name="documents.tidy", ignore_result=True)
def tidy() -> None:
    """Compact logs that are long or quiet (deriving their text), purge old deleted documents."""
    documents_tidy()
