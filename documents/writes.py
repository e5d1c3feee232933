"""The assistant's writes into documents: asked for, queued, written, stopped, ended.

A write lives like an answer in a thread: queued on the model's queue, written by the model
worker (``llm.document_writing``), stoppable by any member of the workspace, and ended as
interrupted by housekeeping if its worker goes silent. Its text is in the document already
(every frame is an update), so whatever ends it keeps what was written.
"""

import logging
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from chat.models import Thread
from workspace.celery import app as celery_app

from . import events
from .models import Document, DocumentWrite
from .selectors import write_list_queued, write_queue_ahead
from .writing import position_check

logger = logging.getLogger(__name__)

WRITE_TASK = "llm.write_document"
INSTRUCTION_MAX_LENGTH = 2000
STOP_TTL_S = 24 * 3600
# Writes one person may have waiting for (or being written by) the assistant at once.
MAX_PENDING_PER_PERSON = 3


def _stop_key(write_id: int) -> str:
    return f"document-write-stop:{write_id}"


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
    pending = DocumentWrite.objects.filter(
        requested_by=by, status__in=DocumentWrite.ACTIVE_STATUSES
    ).count()
    if pending >= MAX_PENDING_PER_PERSON:
        raise ValidationError(
            f"You already have {pending} writes waiting for the assistant; wait for one to end."
        )
    write = DocumentWrite.objects.create(
        document=document,
        requested_by=by,
        instruction=instruction,
        anchor=anchor,
        head=head,
        source_thread=source_thread,
    )
    transaction.on_commit(lambda: _enqueue(write))
    return write


def _enqueue(write: DocumentWrite) -> None:
    events.write_publish(write, ahead=write_queue_ahead(write))
    celery_app.send_task(WRITE_TASK, args=[write.pk])


def writes_queue_moved(**_: object) -> None:
    """Something ahead of the queued writes started or ended: show each its new place."""
    for write in write_list_queued():
        events.write_publish(write, ahead=write_queue_ahead(write))


def write_stop(*, write: DocumentWrite, by: User) -> bool:
    """Stop a write that is queued or writing; False once it has ended."""
    if _end_if(write, DocumentWrite.Status.QUEUED, status="stopped", stopped_by=by):
        return True
    write.refresh_from_db(fields=["status"])
    if write.status == DocumentWrite.Status.WRITING:
        try:
            cache.set(_stop_key(write.pk), by.pk, timeout=STOP_TTL_S)
        except Exception:  # Redis away: the worker cannot hear it, say so
            raise ValidationError("The stop could not reach the assistant; try again.") from None
        return True
    return False


def write_stop_requested(write_id: int) -> str | None:
    """The id (as text) of the member who asked to stop the write, if one did (polled by the
    worker between tokens)."""
    try:
        by = cache.get(_stop_key(write_id))
    except Exception:
        return None
    return str(by) if by is not None else None


def write_start(*, write: DocumentWrite) -> bool:
    """Mark the write as being written; False if it ended meanwhile (stopped while queued).

    A stop request left in the cache under this id by an earlier life of the database (ids
    start again after a reset) must not stop this write: a write is stopped through the cache
    only once it is being written, so anything there now is stale.
    """
    _stop_request_clear(write.pk)
    now = timezone.now()
    return _end_if(
        write, DocumentWrite.Status.QUEUED, status="writing", started_at=now, heartbeat_at=now
    )


def write_progress(*, write: DocumentWrite, written: str) -> None:
    """Save how far the write got (about once a second): the worker is alive."""
    DocumentWrite.objects.filter(pk=write.pk, status=DocumentWrite.Status.WRITING).update(
        written=written, heartbeat_at=timezone.now()
    )


def write_finish(*, write: DocumentWrite, written: str, stopped_by_id: int | None) -> None:
    status = "stopped" if stopped_by_id is not None else "done"
    _end_if(
        write,
        DocumentWrite.Status.WRITING,
        status=status,
        written=written,
        stopped_by_id=stopped_by_id,
    )


def write_fail(*, write: DocumentWrite, written: str, reason: str) -> None:
    _end_if(
        write,
        *DocumentWrite.ACTIVE_STATUSES,
        status="failed",
        written=written,
        error=reason,
    )


def writes_interrupt_stale(*, silent_for: timedelta) -> list[int]:
    """End as interrupted the writes whose worker has been silent for ``silent_for``; what
    they wrote is in the document already."""
    cutoff = timezone.now() - silent_for
    stale = DocumentWrite.objects.filter(
        status=DocumentWrite.Status.WRITING, heartbeat_at__lt=cutoff
    )
    interrupted = []
    for write in stale:
        if _end_if(
            write,
            DocumentWrite.Status.WRITING,
            status="interrupted",
            error="The model worker stopped responding; what it wrote is kept.",
        ):
            interrupted.append(write.pk)
    return interrupted


def _end_if(write: DocumentWrite, *statuses: str, **fields: Any) -> bool:
    """Set ``fields`` if the write is still in one of ``statuses``; publish the change."""
    if fields.get("status") not in DocumentWrite.ACTIVE_STATUSES:
        fields["finished_at"] = timezone.now()
    with transaction.atomic():
        changed = DocumentWrite.objects.filter(pk=write.pk, status__in=statuses).update(**fields)
        if changed:
            write.refresh_from_db()
            transaction.on_commit(lambda: events.write_publish(write))
            transaction.on_commit(writes_queue_moved)
    if changed and write.status not in DocumentWrite.ACTIVE_STATUSES:
        _stop_request_clear(write.pk)
    return bool(changed)


def _stop_request_clear(write_id: int) -> None:
    try:
        cache.delete(_stop_key(write_id))
    except Exception:  # it expires by itself
        logger.warning("Could not clear the stop request of write %s", write_id)
