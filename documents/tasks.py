"""Housekeeping of documents, run by Celery beat on the ``housekeeping`` queue."""

from celery import shared_task

from .services import documents_tidy


@shared_task(name="documents.tidy", ignore_result=True)
def tidy() -> None:
    """Compact logs that are long or quiet (deriving their text), purge old deleted documents."""
    documents_tidy()
