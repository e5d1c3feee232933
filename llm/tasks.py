"""Celery tasks of the model worker (queue ``llm``)."""

from celery import shared_task

from .document_writing import document_write_generate
from .generation import reply_generate


@shared_task(name="llm.generate_reply", ignore_result=True)
def generate_reply(reply_id: int) -> None:
    """Generate an assistant reply. Safe to run twice: only a queued reply is generated."""
    reply_generate(reply_id=reply_id)


@shared_task(name="llm.write_document", ignore_result=True)
def write_document(write_id: int) -> None:
    """Write into a document as its co-author. Safe to run twice: only a queued write runs."""
    document_write_generate(write_id=write_id)
