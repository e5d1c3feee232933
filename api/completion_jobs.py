"""OpenAI-compatible completions as model jobs: what the web process and the worker share.

A request to ``/v1/chat/completions`` becomes a model job of the kind ``completion``
(``jobs``: the person's limit, stop, the sweep, as for answers and writes): its messages and
parameters wait in the cache (``completion-request:<job id>``), and the task
``llm.complete_chat`` goes to the model's own queue (``llm.routing``), behind the thread
answers and document writes already waiting for that model, so a busy model is shared in
arrival order. The worker publishes the job's events to ``completion.<job id>``
(``realtime.topics``); the request follows that topic before it enqueues the job, so it
misses nothing. A request whose client goes away stops its job.

Imported by web processes: nothing here loads llama.cpp.

=====================  ==============================================================
event type             payload
=====================  ==============================================================
completion.started     ``prompt_tokens``: the prompt fits, text follows
completion.chunk       ``seq`` (1, 2, ...) and ``delta``: the text added
completion.done        ``finish_reason`` (stop, length, cancelled), ``prompt_tokens``,
                       ``completion_tokens``
completion.error       ``status`` (400, 503...), ``code``, ``message``: nothing was (or
                       will be) generated past this
=====================  ==============================================================
"""

import logging
from dataclasses import asdict, dataclass, field

from django.contrib.auth.models import User
from django.core.cache import cache

from jobs.kinds import JobKind
from jobs.models import ModelJob
from jobs.services import job_create
from llm.routing import COMPLETE_CHAT_TASK
from realtime.contract import EventModel
from realtime.publish import publish
from realtime.topics import completion_topic

logger = logging.getLogger(__name__)

COMPLETION_KIND = "completion"
JOB_TTL_S = 3600


class CompletionStarted(EventModel):
    type = "completion.started"
    prompt_tokens: int


class CompletionChunk(EventModel):
    type = "completion.chunk"
    seq: int
    delta: str


class CompletionDone(EventModel):
    type = "completion.done"
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


class CompletionError(EventModel):
    type = "completion.error"
    status: int
    code: str
    message: str


@dataclass(frozen=True)
class CompletionRequest:
    """What a client asked for: the messages, the model and the sampling."""

    model_id: int | None  # None: the installation's default model
    model_name: str  # as the client named it, for the answer
    messages: list[dict[str, str]]  # role and content, in order
    max_tokens: int | None  # None: as much as the context leaves
    temperature: float
    top_p: float
    stop: list[str] = field(default_factory=list)


def _request_key(job_id: int) -> str:
    return f"completion-request:{job_id}"


def completion_job_create(request: CompletionRequest, *, requested_by: User) -> ModelJob:
    """The completion's model job (raises JobLimitReached over the person's limit), with its
    request left where its worker reads it. ``jobs.services.job_enqueue`` sends it once the
    caller follows its topic."""
    job = job_create(kind=COMPLETION_KIND, requested_by=requested_by, model_id=request.model_id)
    cache.set(_request_key(job.pk), asdict(request), timeout=JOB_TTL_S)
    return job


def completion_request_take(job_id: int) -> CompletionRequest | None:
    """The job's request, for its worker, once: a second delivery of the task finds nothing."""
    data = cache.get(_request_key(job_id))
    cache.delete(_request_key(job_id))
    return CompletionRequest(**data) if data else None


def completion_publish(job_id: int, event: EventModel) -> None:
    publish(completion_topic(str(job_id)), event)


def _completion_ended_here(job: ModelJob) -> None:
    """The lifecycle ended a completion itself: a worker gone silent is the client's error
    (a stop while it waited came from the client, who is gone)."""
    if job.status == ModelJob.Status.INTERRUPTED:
        completion_publish(
            job.pk,
            CompletionError(
                status=503,
                code="worker_lost",
                message="The model worker stopped responding; try again.",
            ),
        )


COMPLETION = JobKind(
    name=COMPLETION_KIND,
    task=COMPLETE_CHAT_TASK,
    task_args=lambda job: [job.pk],
    ended_here=_completion_ended_here,
    places_changed=lambda jobs: None,  # a client waits without a place shown
)
