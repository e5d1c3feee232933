"""Catch-ups: a person asks what they missed in a thread, and the assistant summarises it.

A catch-up is a model job of the kind ``catch-up`` (``jobs``): it counts against the person's
limit, waits in the queue of the thread's answerer's model with the answers and writes, is
stopped like them, and is ended as interrupted by the sweep if its worker goes silent. It
follows its job (``CatchUp.job``); its text is saved about once a second and at the end, and
each change is published to its own topic, which only the person's catch-up socket follows.
"""

from typing import Any, TypedDict

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction

from chat.models import Assistant, Message, Thread
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

from .events import catch_up_status_publish
from .models import CatchUp
from .selectors import missed_messages

CATCH_UP_KIND = "catch-up"
CATCH_UP_TASK = "llm.catch_up"


class GivenMessage(TypedDict):
    """A message the model read, by the number it read it under."""

    number: int
    message_id: int
    speaker: str


def catch_up_request(*, thread: Thread, by: User, after: int) -> CatchUp:
    """Ask the thread's answerer for a summary, for ``by`` alone, of the messages after
    message ``after`` (how far they had read). Raises ValidationError worded for ``by`` when
    nobody else wrote since, or over their limit of waiting requests."""
    if not missed_messages(thread=thread, reader=by, after=after):
        raise ValidationError("Nothing new since you last read: there is nothing to catch up on.")
    assistant = thread.answerer
    with transaction.atomic():
        job = job_create(
            kind=CATCH_UP_KIND,
            requested_by=by,
            workspace_id=thread.workspace_id,
            model_id=assistant.model_id if assistant else None,
        )
        catch_up = CatchUp.objects.create(
            thread=thread,
            requested_by=by,
            job=job,
            after_message_id=after,
            assistant=assistant,
            assistant_name=_name_of(assistant),
        )
        job_enqueue(job)
    return catch_up


def _name_of(assistant: Assistant | None) -> str:
    return assistant.display_name if assistant else settings.ASSISTANT_NAME


def given_record(messages: list[Message]) -> list[GivenMessage]:
    """``messages`` numbered from 1, as the model reads them."""
    return [
        {"number": number, "message_id": message.pk, "speaker": message.speaker_name}
        for number, message in enumerate(messages, start=1)
    ]


def catch_up_start(*, catch_up: CatchUp, given: list[GivenMessage]) -> bool:
    """Mark the catch-up started, recording the numbered messages its model reads; False if
    its job is not queued (stopped meanwhile, or a task run twice)."""
    with transaction.atomic():
        if not job_start(catch_up.job):
            return False
        CatchUp.objects.filter(pk=catch_up.pk).update(given=given)
        catch_up.given = given
        transaction.on_commit(lambda: catch_up_status_publish(catch_up.pk))
    return True


def catch_up_progress(*, catch_up: CatchUp, text: str, seq: int) -> None:
    """Save the summary so far (about once a second): the job's heartbeat. Raises JobEnded
    if it was ended elsewhere."""
    with transaction.atomic():
        job_progress(catch_up.job, seq=seq)
        CatchUp.objects.filter(pk=catch_up.pk).update(body=text, last_seq=seq)


def catch_up_finish(*, catch_up: CatchUp, text: str, seq: int, figures: dict[str, Any]) -> None:
    """The model is done: ``stopped`` if the person stopped it, else ``done``."""
    job = catch_up.job
    job_end_stopped_or_done(
        job, also=lambda: _follow(catch_up, body=text, last_seq=seq), last_seq=seq, **figures
    )


def catch_up_fail(*, catch_up: CatchUp, text: str, seq: int, reason: str) -> None:
    job_end(
        catch_up.job,
        status=ModelJob.Status.FAILED,
        also=lambda: _follow(catch_up, body=text, last_seq=seq),
        error=reason,
        last_seq=seq,
    )


def catch_up_stop(*, catch_up: CatchUp, by: User) -> bool:
    """Stop a catch-up that is queued or being written; False once it has ended."""
    return job_stop(catch_up.job, by=by, reason=f"stopped by {by.get_username()}")


def catch_up_dismiss(*, catch_up: CatchUp) -> None:
    """The person is done with it: it goes. One queued or being written must be stopped
    first (ValidationError)."""
    if catch_up.job.is_active:
        raise ValidationError("Stop the catch-up before you dismiss it.")
    catch_up.delete()


def _follow(catch_up: CatchUp, **fields: Any) -> None:
    """In the transaction that ended its job: the catch-up keeps ``fields``; its person's
    socket is told on commit."""
    if fields:
        CatchUp.objects.filter(pk=catch_up.pk).update(**fields)
    transaction.on_commit(lambda: catch_up_status_publish(catch_up.pk))


def _ended_here(job: ModelJob) -> None:
    """The lifecycle ended a catch-up itself (stopped while queued, interrupted as silent):
    its text is as last saved."""
    _follow(CatchUp.objects.get(job=job))


def _moved_up(jobs: list[ModelJob]) -> None:
    for catch_up_id in CatchUp.objects.filter(job__in=jobs).values_list("pk", flat=True):
        catch_up_status_publish(catch_up_id)


CATCH_UP = JobKind(
    name=CATCH_UP_KIND,
    task=CATCH_UP_TASK,
    task_args=lambda job: [job.catch_up.pk],
    ended_here=_ended_here,
    places_changed=_moved_up,
)
