"""Ingestion tasks, on the ``ingest`` queue (``CELERY_TASK_ROUTES``: ``knowledge.*``).

The ingest worker is its own process, never the model worker: reading a 300-page PDF or
embedding thousands of passages must not hold up answers. It runs a pool of threads, each
reading one source (a slow server holds up only its own source), and steps aside while the
models answer (``answers_first``); on a machine it shares with a model it also takes only the
CPU time nothing else wants (``_priority_lower``), so answers keep their first-token time and
speed while a large file is indexed (``bench/README.md`` measures both).
"""

import os
import threading
from datetime import timedelta
from pathlib import Path

from celery import shared_task
from django.conf import settings

from .services import (
    chunks_reembed,
    documents_sources_sync,
    source_ingest,
    sources_requeue_stale,
)

INGEST_NICENESS = 19
AUTOGROUP = Path("/proc/self/autogroup")  # its group's niceness (Linux with autogroups)
_lowered = threading.local()


def _priority_lower() -> None:
    """Once per worker thread: run only when a core would otherwise be idle.

    A niceness alone is not enough on 2 cores: by the scheduler's weights a nice-10 process
    still gets about a tenth of a core from a model that wants both, and llama.cpp's threads
    spin while one of them waits, so every slice taken from one thread slows them all.
    Linux's ``SCHED_IDLE`` class runs only in time that normal processes leave over (the
    parser's child process inherits it); where it is missing, the lowest niceness is the next
    best. Both only rank processes of one autogroup, though: Linux gives each session a group
    that shares the CPU equally with the others, and ``make run`` (honcho) starts each process
    in a session of its own. A worker that leads its session lowers its whole group too.

    On Linux a niceness and a scheduling class belong to a thread, not to its process: each of
    the pool's threads lowers itself (the parser's child inherits its thread's).
    """
    if getattr(_lowered, "done", False):
        return
    _lowered.done = True
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if current < INGEST_NICENESS:
        os.nice(INGEST_NICENESS - current)
    if hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    if os.getsid(0) == os.getpid() and AUTOGROUP.exists():
        AUTOGROUP.write_text(str(INGEST_NICENESS))


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
