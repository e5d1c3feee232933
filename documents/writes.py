"""The assistant's writes into documents: asked for, queued, written, stopped, ended.

A write is a model job of the kind ``document write`` (``jobs``): queued on the default
model's queue beside its answers, written by the model worker (``documents.write_job``),
stoppable by any member of the workspace, and ended as interrupted by the jobs' sweep if its
worker goes silent. The write follows its job in the same transaction. Its text is in the
document already (every frame is an update), so whatever ends it keeps what was written.
"""

import logging
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction

from chat.models import Thread
from jobs.kinds import JobKind
from jobs.models import ModelJob
from jobs.services import (
    job_create,
    job_end,
    job_end_stopped_or_done,
    job_enqueue,
    job_progress,
    job_start,
    job_stop,
)

from . import events, signals
from .models import Document, DocumentWrite
from .selectors import write_queue_ahead
from .writing import position_check

logger = logging.getLogger(__name__)

WRITE_KIND = "document write"
WRITE_TASK = "llm.write_document"
INSTRUCTION_MAX_LENGTH = 2000


def write_request(
    *,
    document: Document,
    by: User,
    instruction: str,
    anchor: Any = None,
    head: Any = None,
    source_thread: Thread | None = None,
) -> DocumentWrite:
    """Ask the assistant to write at ``anchor`` (the end without one), or to rewrite the
    selection from ``anchor`` to ``head``. Raises ValidationError worded for ``by``."""
    instruction = instruction.strip()
    if not instruction:
        raise ValidationError("Say what the assistant should write.")
    if len(instruction) > INSTRUCTION_MAX_LENGTH:
        raise ValidationError(
            f"That request is too long; the limit is {INSTRUCTION_MAX_LENGTH:,} characters."
        )
    try:
        anchor = None if anchor is None else position_check(anchor)
        head = None if head is None else position_check(head)
    except ValueError as exc:
        raise ValidationError(f"The cursor position could not be read: {exc}") from exc
    with transaction.atomic():
        job = job_create(
            kind=WRITE_KIND, requested_by=by, workspace_id=document.workspace_id, model_id=None
        )
        write = DocumentWrite.objects.create(
            document=document,
            requested_by=by,
            instruction=instruction,
            anchor=anchor,
            head=head,
            source_thread=source_thread,
            job=job,
        )
        transaction.on_commit(lambda: events.write_publish(write, ahead=write_queue_ahead(write)))
        job_enqueue(job)
    return write


def write_stop(*, write: DocumentWrite, by: User) -> bool:
    """Stop a write that is queued or writing; False once it has ended
    (``jobs.services.job_stop``)."""
    return job_stop(_job_of(write), by=by, reason=f"stopped by {by.get_username()}")


def write_start(*, write: DocumentWrite) -> bool:
    """Mark the write as being written; False if its job is not queued (stopped meanwhile,
    or a task run twice)."""
    with transaction.atomic():
        if not job_start(_job_of(write)):
            return False
        DocumentWrite.objects.filter(pk=write.pk).update(status=DocumentWrite.Status.WRITING)
    write.refresh_from_db()
    events.write_publish(write)
    return True


def write_progress(*, write: DocumentWrite, written: str, seq: int) -> None:
    """Save how far the write got (about once a second): the job's heartbeat. Raises
    JobEnded if the write was ended elsewhere."""
    with transaction.atomic():
        job_progress(_job_of(write), seq=seq)
        DocumentWrite.objects.filter(pk=write.pk).update(written=written)


def write_finish(*, write: DocumentWrite, written: str, seq: int, figures: dict[str, Any]) -> None:
    """The model is done: the write ends ``stopped`` if a member's stop ended it, else
    ``done``."""
    job = _job_of(write)
    job_end_stopped_or_done(
        job, also=lambda: _write_follow(write, job, written=written), last_seq=seq, **figures
    )


def write_fail(*, write: DocumentWrite, written: str, reason: str) -> None:
    job = _job_of(write)
    job_end(
        job,
        status=ModelJob.Status.FAILED,
        also=lambda: _write_follow(write, job, written=written),
        error=reason,
    )


_STATUS_OF_JOB = {
    ModelJob.Status.DONE: DocumentWrite.Status.DONE,
    ModelJob.Status.STOPPED: DocumentWrite.Status.STOPPED,
    ModelJob.Status.FAILED: DocumentWrite.Status.FAILED,
    ModelJob.Status.INTERRUPTED: DocumentWrite.Status.INTERRUPTED,
}
_INTERRUPTED_ERROR = "The model worker stopped responding; what it wrote is kept."


def _write_follow(write: DocumentWrite, job: ModelJob, **fields: Any) -> None:
    """In the transaction that ended ``job``: its write ends the same way; editors are told
    on commit."""
    status = _STATUS_OF_JOB[ModelJob.Status(job.status)]
    error = _INTERRUPTED_ERROR if status == DocumentWrite.Status.INTERRUPTED else job.error
    DocumentWrite.objects.filter(pk=write.pk).update(
        status=status,
        stopped_by_id=job.stopped_by_id,
        error=error,
        finished_at=job.finished_at,
        **fields,
    )
    signals.write_ended.send(sender=DocumentWrite, write=write, job=job)

    def tell() -> None:
        write.refresh_from_db()
        events.write_publish(write)

    transaction.on_commit(tell)


def _job_of(write: DocumentWrite) -> ModelJob:
    assert write.job is not None, f"Write {write.pk} has no model job"
    return write.job


def _write_ended_here(job: ModelJob) -> None:
    """The lifecycle ended a write's job itself (stopped while queued, interrupted as
    silent); what it wrote is in the document already."""
    _write_follow(DocumentWrite.objects.get(job=job), job)


def _writes_moved_up(jobs: list[ModelJob]) -> None:
    for write in DocumentWrite.objects.filter(job__in=jobs).select_related("job", "requested_by"):
        events.write_publish(write, ahead=write_queue_ahead(write))


DOCUMENT_WRITE = JobKind(
    name=WRITE_KIND,
    task=WRITE_TASK,
    task_args=lambda job: [job.document_write.pk],
    ended_here=_write_ended_here,
    places_changed=_writes_moved_up,
)
