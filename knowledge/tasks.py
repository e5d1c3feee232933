"""Ingestion tasks, on the ``ingest`` queue (``CELERY_TASK_ROUTES``: ``knowledge.*``).

The ingest worker is its own process, never the model worker: reading a 300-page PDF or
embedding thousands of passages must not hold up answers. It also runs at a lower CPU
priority than the web and model processes beside it, so on a small machine chat stays quick
while a large file is indexed.
"""

import os
from datetime import timedelta

from celery import shared_task
from django.conf import settings

from .services import (
    chunks_reembed,
    documents_sources_sync,
    source_ingest,
    sources_requeue_stale,
)

INGEST_NICENESS = 10
_lowered = False


def _priority_lower() -> None:
    """Once per worker process: yield the CPU to web and model processes."""
    global _lowered  # noqa: PLW0603 - a per-process fact
    if not _lowered:
        _lowered = True
        current = os.getpriority(os.PRIO_PROCESS, 0)
        if current < INGEST_NICENESS:
            os.nice(INGEST_NICENESS - current)


@shared_task(name="knowledge.ingest", ignore_result=True)
def ingest(source_id: int, generation: int) -> None:
    """Read and index one generation of a source (a stale generation does nothing)."""
    _priority_lower()
    source_ingest(source_id=source_id, generation=generation)


@shared_task(name="knowledge.sync_documents", ignore_result=True)
def sync_documents() -> None:
    """Shared documents become sources, and are re-indexed shortly after they change; an
    ingestion whose task was lost is queued again."""
    documents_sources_sync()
    sources_requeue_stale(silent_for=timedelta(seconds=settings.KNOWLEDGE_STALE_AFTER_S))


@shared_task(name="knowledge.reembed", ignore_result=True)
def reembed() -> None:
    """Passages embedded by another model get the current model's vectors."""
    _priority_lower()
    chunks_reembed()
