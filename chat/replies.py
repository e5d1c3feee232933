"""The assistant's side of a thread: a reply's life from queued to done, stopped or failed.

A reply is a model job of the kind ``answer`` (``jobs``): the job's lifecycle decides every
move (start, end, stop, the sweep of a silent worker), and the reply follows it in the same
transaction, then tells everyone. The generation service (in the worker) moves a reply along;
members may stop it.
"""

import copy
from typing import NotRequired, TypedDict

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from jobs.kinds import JobKind
from jobs.models import ModelJob
from jobs.services import (
    JobEnded,
    job_end,
    job_end_stopped_or_done,
    job_progress,
    job_start,
    job_stop,
)

from . import events, signals
from .answering import AnswerBrief
from .citations import AnswerSource, sources_mark_cited
from .models import Generation, Message, Thread
from .selectors import message_read, reply_queue_ahead
from .services import (
    ANSWER_KIND,
    GENERATE_REPLY_TASK,
    assistant_reply_queue,
    thread_activity_record,
)
from .streaming_state import live_text_set, streaming_state_clear


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

    False if its job is not queued (stopped meanwhile, or a task run twice).
    """
    # No new revision: a client catching up is sent every active answer whatever its revision.
    with transaction.atomic():
        if not job_start(_job_of(reply)):
            return False
        streaming_state_clear(reply.pk)  # what a lost attempt left
        Message.objects.filter(pk=reply.pk).update(
            status=Message.Status.STREAMING, updated_at=timezone.now()
        )
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


def reply_progress_record(*, reply: Message, text: str, seq: int) -> Message:
    """Note that frame ``seq`` holds ``text``. Returns a copy of the reply as of this frame,
    for ``reply_frame_send``, which the worker runs on another thread while ``reply`` goes on
    changing."""
    reply.body = text
    reply.last_seq = seq
    return copy.copy(reply)


def reply_progress_save(*, reply: Message) -> None:
    """Save the reply's newest frame (a reload shows it). Saving doubles as the job's
    heartbeat, and checks that the attempt still owns the reply (raises JobEnded if not)."""
    with transaction.atomic():
        job_progress(_job_of(reply), seq=reply.last_seq)
        Message.objects.filter(pk=reply.pk).update(
            body=reply.body, last_seq=reply.last_seq, updated_at=timezone.now()
        )


def reply_frame_send(*, frame: Message, delta: str) -> None:
    """Share the frame ``frame.last_seq``: its whole text in the cache, and the frame event."""
    live_text_set(reply_id=frame.pk, seq=frame.last_seq, text=frame.body)
    events.broadcast_frame(frame, seq=frame.last_seq, delta=delta)


def reply_stop(*, reply: Message, by: User) -> bool:
    """A member stops a reply, queued or streaming, from any replica. False if it had
    already ended (``jobs.services.job_stop``)."""
    if reply.job_id is None:  # an answer that never ran (its model was switched off)
        return False
    stopping = job_stop(_job_of(reply), by=by, reason=f"stopped by {by.get_username()}")
    reply.refresh_from_db()
    return stopping


def reply_finish(
    *,
    reply: Message,
    text: str,
    seq: int,
    finish_reason: str,
    figures: GenerationFigures,
) -> None:
    """The model is done with the reply: ``stopped`` if a member's stop ended it, else
    ``done`` with the model's own reason; its figures go to its job and its Generation, and
    each of its sources is marked cited or not by the final text's ``[n]`` markers.
    Raises JobEnded if the reply was ended elsewhere."""
    job = _job_of(reply)

    def record() -> None:
        run = Generation.objects.filter(message_id=reply.pk)
        sources = run.values_list("sources", flat=True).first() or []
        run.update(**figures, sources=sources_mark_cited(sources, text))
        stopped = job.status == ModelJob.Status.STOPPED
        _reply_follow(
            reply,
            job,
            body=text,
            last_seq=seq,
            stop_reason=job.stop_reason if stopped else finish_reason or "stop",
        )

    job_figures = {key: figures[key] for key in GenerationFigures.__required_keys__}  # type: ignore[literal-required]
    if not job_end_stopped_or_done(job, also=record, last_seq=seq, **job_figures):
        raise JobEnded(f"Reply {reply.pk} is no longer streaming")


def reply_fail(*, reply: Message, text: str, seq: int, reason: str) -> None:
    """End a reply as failed, keeping whatever text was generated (unless it ended already)."""
    job = _job_of(reply)
    job_end(
        job,
        status=ModelJob.Status.FAILED,
        also=lambda: _reply_follow(reply, job, body=text, last_seq=seq),
        error=reason,
        last_seq=seq,
    )


def reply_retry(*, reply: Message, by: User) -> Message:
    """Answer the same question again, asked for by ``by``; the earlier answer stays as it was.

    Raises ValidationError, with a message for ``by``, when the reply is still active, its
    question was deleted, or ``by`` already has as many requests waiting as allowed.
    """
    question = reply.in_reply_to
    if not reply.can_retry or question is None:
        raise ValidationError("Only an ended answer can be asked for again.")
    if question.deleted_at is not None:
        raise ValidationError("Its question was deleted, so there is nothing to answer again.")
    with transaction.atomic():
        return assistant_reply_queue(prompt=question, requested_by=by, assistant=reply.assistant)


_STATUS_OF_JOB = {
    ModelJob.Status.QUEUED: Message.Status.QUEUED,
    ModelJob.Status.RUNNING: Message.Status.STREAMING,
    ModelJob.Status.DONE: Message.Status.DONE,
    ModelJob.Status.STOPPED: Message.Status.STOPPED,
    ModelJob.Status.FAILED: Message.Status.FAILED,
    ModelJob.Status.INTERRUPTED: Message.Status.INTERRUPTED,
}


def _reply_follow(reply: Message, job: ModelJob, **fields: object) -> None:
    """In the transaction that ended ``job``: its reply ends the same way (with ``fields``),
    at a new revision of its thread (which clients catch up from); everyone is told on commit.
    Its ending is the thread's activity: there is something new to read."""
    fields.setdefault("stop_reason", job.stop_reason)
    thread_activity_record(thread=reply.thread, message=reply, at=job.finished_at or timezone.now())
    Message.objects.filter(pk=reply.pk).update(
        status=_STATUS_OF_JOB[ModelJob.Status(job.status)],
        error=job.error,
        finished_at=job.finished_at,
        updated_at=timezone.now(),
        revision=Thread.objects.revision_take(reply.thread_id),
        **fields,
    )
    signals.answer_ended.send(sender=Message, answer=reply, job=job)

    def tell() -> None:
        reply.refresh_from_db()
        streaming_state_clear(reply.pk)
        events.broadcast_message_changed(reply)

    transaction.on_commit(tell)


def _job_of(reply: Message) -> ModelJob:
    assert reply.job is not None, f"Reply {reply.pk} has no model job"
    return reply.job


def _answer_ended_here(job: ModelJob) -> None:
    """The lifecycle ended an answer's job itself: stopped while queued, or interrupted as
    silent. An interrupted answer keeps its newest text, from the cache when it has it (the
    database holds it as of its last save, at most about a second old)."""
    reply = Message.objects.get(job=job)
    fields: dict[str, object] = {}
    if job.status == ModelJob.Status.INTERRUPTED:
        newest = message_read(reply)
        fields = {"body": newest.body, "last_seq": newest.last_seq}
    _reply_follow(reply, job, **fields)


def _answers_moved_up(jobs: list[ModelJob]) -> None:
    """Show the queued answers of ``jobs`` their new places."""
    for reply in reply_queue_ahead(
        list(Message.objects.filter(job__in=jobs).select_related("job", "thread"))
    ):
        events.broadcast_message_changed(reply)


ANSWER = JobKind(
    name=ANSWER_KIND,
    task=GENERATE_REPLY_TASK,
    task_args=lambda job: [job.answer.pk],
    ended_here=_answer_ended_here,
    places_changed=_answers_moved_up,
)
