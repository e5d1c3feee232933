"""The assistant's side of a thread: a reply's life from queued to done, stopped or failed.

The generation service (in the worker) moves a reply along; members may stop it. Each function
writes, then broadcasts.
"""

import copy
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import NotRequired, TypedDict

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from . import events
from .answering import AnswerBrief
from .citations import AnswerSource, sources_mark_cited
from .models import Generation, Message, Thread
from .selectors import reply_list_queued
from .services import assistant_reply_queue, reply_enqueue
from .signals import reply_queue_moved
from .streaming_state import (
    live_text_get_many,
    live_text_set,
    stop_request_set,
    streaming_state_clear,
)


class GenerationFigures(TypedDict):
    """How a generation went, as the model worker measured it."""

    prompt_tokens: int
    completion_tokens: int
    time_to_first_token_ms: float | None
    tokens_per_second: float | None
    first_token_steps_ms: NotRequired[dict[str, float]]


def reply_start(
    *,
    reply: Message,
    brief: AnswerBrief,
    model_name: str,
    parameters: dict[str, float],
    sources: list[AnswerSource] | None = None,
) -> bool:
    """Move a queued reply to streaming, recording what generates it (its Generation): the
    assistant, the model, the instructions and parameters in effect, which of them the
    thread's settings chose, and the numbered passages of the workspace's sources it reads
    (everyone sees them under the answer as it streams).

    False if it is not queued (e.g. a task run twice).
    """
    if reply.status != Message.Status.QUEUED:
        return False
    # Clear what a lost attempt left; a stop asked for from here on is kept, since while
    # queued it is handled in the database and the update below then fails.
    streaming_state_clear(reply.pk)
    # No new revision: a client catching up is sent every active answer whatever its revision.
    with transaction.atomic():
        started = Message.objects.filter(pk=reply.pk, status=Message.Status.QUEUED).update(
            status=Message.Status.STREAMING, updated_at=timezone.now()
        )
        if not started:
            return False
        Generation.objects.create(
            message=reply,
            assistant=brief.assistant,
            assistant_handle=brief.assistant_handle,
            model_name=model_name,
            system_prompt=brief.system,
            parameters=parameters,
            thread_overrides=brief.thread_overrides,
            sources=sources or [],
        )
    reply.refresh_from_db()
    events.broadcast_message_changed(reply)
    return True


class ReplyNoLongerStreaming(Exception):
    """The reply was ended elsewhere (e.g. interrupted as stale): this attempt must stop."""


def reply_progress_record(*, reply: Message, text: str, seq: int, persist: bool) -> Message:
    """Note that frame ``seq`` holds ``text``; when ``persist``, save it (a reload shows it).

    Saving doubles as the attempt's heartbeat, and checks that the attempt still owns the reply.
    Returns a copy of the reply as of this frame, for ``reply_frame_send``, which the worker
    runs on another thread while ``reply`` goes on changing.
    """
    reply.body = text
    reply.last_seq = seq
    if persist:
        _save_while_streaming(reply, body=text, last_seq=seq)
    return copy.copy(reply)


def reply_frame_send(*, frame: Message, delta: str) -> None:
    """Share the frame ``frame.last_seq``: its whole text in the cache, and the frame event."""
    live_text_set(reply_id=frame.pk, seq=frame.last_seq, text=frame.body)
    events.broadcast_frame(frame, seq=frame.last_seq, delta=delta)


def reply_stop(*, reply: Message, by: User) -> bool:
    """A member stops a reply. False if it had already ended.

    A queued reply is stopped here and never generated. A streaming one is flagged in the
    shared cache; the worker sees the flag between tokens and ends the reply as stopped,
    keeping its text, whichever web replica took the request.
    """
    reason = f"stopped by {by.get_username()}"
    if _end_if(reply, Message.Status.QUEUED, status=Message.Status.STOPPED, stop_reason=reason):
        _queue_moved()
        return True
    reply.refresh_from_db()
    if reply.status != Message.Status.STREAMING:
        return False
    stop_request_set(reply_id=reply.pk, reason=reason)
    return True


def reply_finish(
    *,
    reply: Message,
    text: str,
    seq: int,
    stopped_by: str | None,
    finish_reason: str,
    figures: GenerationFigures,
) -> None:
    """The model is done with the reply: ``stopped`` if a member's stop ended it (the reason
    is who), else ``done`` with the model's own reason; its figures go to its Generation, and
    each of its sources is marked cited or not by the final text's ``[n]`` markers."""

    def record() -> None:
        run = Generation.objects.filter(message_id=reply.pk)
        sources = run.values_list("sources", flat=True).first() or []
        run.update(**figures, sources=sources_mark_cited(sources, text))

    ended = _end_if(
        reply,
        Message.Status.STREAMING,
        also=record,
        body=text,
        last_seq=seq,
        status=Message.Status.STOPPED if stopped_by else Message.Status.DONE,
        stop_reason=stopped_by or finish_reason or "stop",
    )
    if not ended:
        raise ReplyNoLongerStreaming(f"Reply {reply.pk} is no longer streaming")
    _queue_moved()


def reply_fail(*, reply: Message, text: str, seq: int, reason: str) -> None:
    """End a reply as failed, keeping whatever text was generated (unless it ended already)."""
    if _end_if(
        reply,
        Message.Status.QUEUED,
        Message.Status.STREAMING,
        body=text,
        last_seq=seq,
        status=Message.Status.FAILED,
        error=reason,
    ):
        _queue_moved()


def reply_requeue_waiting(*, waiting_for: timedelta) -> list[int]:
    """Enqueue again the replies queued for longer than ``waiting_for``.

    Their task may be gone (a Redis restart without persistence, a failed enqueue); if it is
    not, the extra delivery finds the reply started or ended and does nothing. Each reply is
    sent again at most once per ``waiting_for``.
    """
    cutoff = timezone.now() - waiting_for
    requeued = []
    for reply in Message.objects.filter(status=Message.Status.QUEUED, updated_at__lt=cutoff):
        if Message.objects.filter(
            pk=reply.pk, status=Message.Status.QUEUED, updated_at__lt=cutoff
        ).update(updated_at=timezone.now()):
            reply_enqueue(reply)
            requeued.append(reply.pk)
    return requeued


def reply_interrupt_stale(*, silent_for: timedelta) -> list[int]:
    """End as interrupted the replies whose worker has not been heard of for ``silent_for``.

    A streaming reply saves its text at least once a second, so a long silence means its
    worker died (killed, out of memory, machine lost). The newest text, from the cache when
    it has it, is kept; a late frame from the lost attempt then finds the reply ended and stops.
    """
    cutoff = timezone.now() - silent_for
    stale = list(Message.objects.filter(status=Message.Status.STREAMING, updated_at__lt=cutoff))
    live = live_text_get_many([reply.pk for reply in stale])
    interrupted = []
    for reply in stale:
        seq, text = live.get(reply.pk, (reply.last_seq, reply.body))
        if seq < reply.last_seq:
            seq, text = reply.last_seq, reply.body
        if _end_if(
            reply,
            Message.Status.STREAMING,
            silent_since=cutoff,
            status=Message.Status.INTERRUPTED,
            body=text,
            last_seq=seq,
            stop_reason="interrupted: the model worker stopped responding",
        ):
            interrupted.append(reply.pk)
    if interrupted:
        _queue_moved()
    return interrupted


def reply_retry(*, reply: Message, by: User) -> Message:
    """Answer the same question again, asked for by ``by``; the earlier answer stays as it was.

    Raises ValidationError, with a message for ``by``, when the reply is still active, its
    question was deleted, or ``by`` already has as many questions waiting as allowed.
    """
    question = reply.in_reply_to
    if not reply.can_retry or question is None:
        raise ValidationError("Only an ended answer can be asked for again.")
    if question.deleted_at is not None:
        raise ValidationError("Its question was deleted, so there is nothing to answer again.")
    with transaction.atomic():
        return assistant_reply_queue(prompt=question, requested_by=by, assistant=reply.assistant)


def _queue_moved() -> None:
    """A reply ended: every queued reply is now nearer the front; show everyone where."""
    for queued in reply_list_queued():
        events.broadcast_message_changed(queued)
    reply_queue_moved.send(sender=Message)


def _end_if(
    reply: Message,
    *statuses: Message.Status,
    silent_since: datetime | None = None,
    also: Callable[[], None] | None = None,
    **fields: object,
) -> bool:
    """End the reply with ``fields`` if it is still in one of ``statuses`` (and, with
    ``silent_since``, unsaved since then); then tell everyone. False if it had moved on.

    The condition is part of the update, so of two parties ending a reply only one does;
    ``also`` runs in the same transaction when it is this one.
    """
    still = Message.objects.filter(pk=reply.pk, status__in=statuses)
    if silent_since is not None:
        still = still.filter(updated_at__lt=silent_since)
    now = timezone.now()
    with transaction.atomic():  # the thread's revision, which clients catch up from, and the end
        revision = Thread.objects.revision_take(reply.thread_id)
        if not still.update(revision=revision, finished_at=now, updated_at=now, **fields):
            return False
        if also is not None:
            also()
    reply.refresh_from_db()
    streaming_state_clear(reply.pk)
    events.broadcast_message_changed(reply)
    return True


def _save_while_streaming(reply: Message, **fields: object) -> None:
    saved = Message.objects.filter(pk=reply.pk, status=Message.Status.STREAMING).update(
        updated_at=timezone.now(), **fields
    )
    if not saved:
        raise ReplyNoLongerStreaming(f"Reply {reply.pk} is no longer streaming")
