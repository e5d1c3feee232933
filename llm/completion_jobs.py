"""OpenAI-compatible completions as model jobs: what the web process and the worker share.

A request to ``/v1/chat/completions`` becomes a job: its messages and parameters wait in the
cache (``completion-job:<id>``), and the task ``llm.complete_chat`` goes to the model's own
queue (``llm.routing``), behind the thread answers and document writes already waiting for
that model, so a busy model is shared in arrival order. The worker publishes the job's
events to ``completion.<id>`` (``realtime.topics``); the request follows that topic before
it enqueues the job, so it misses nothing. A request whose client goes away leaves a stop
request (``completion-stop:<id>``) that the worker reads before it starts and between tokens.

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
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from django.core.cache import cache

from realtime.publish import publish
from realtime.topics import completion_topic
from workspace.celery import app as celery_app

from .routing import COMPLETE_CHAT_TASK

logger = logging.getLogger(__name__)

JOB_TTL_S = 3600

STARTED = "completion.started"
CHUNK = "completion.chunk"
DONE = "completion.done"
ERROR = "completion.error"


@dataclass(frozen=True)
class CompletionJob:
    model_id: int | None  # None: the installation's default model
    model_name: str  # as the client named it, for the answer
    messages: list[dict[str, str]]  # role and content, in order
    max_tokens: int | None  # None: as much as the context leaves
    temperature: float
    top_p: float
    stop: list[str] = field(default_factory=list)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


def _job_key(job_id: str) -> str:
    return f"completion-job:{job_id}"


def _stop_key(job_id: str) -> str:
    return f"completion-stop:{job_id}"


def completion_job_enqueue(job: CompletionJob) -> None:
    """Leave the job where its worker reads it, then send it to its model's queue."""
    cache.set(_job_key(job.id), asdict(job), timeout=JOB_TTL_S)
    celery_app.send_task(COMPLETE_CHAT_TASK, args=[job.id, job.model_id])


def completion_job_take(job_id: str) -> CompletionJob | None:
    """The job, for its worker, once: a second delivery of the task finds nothing."""
    data = cache.get(_job_key(job_id))
    cache.delete(_job_key(job_id))
    return CompletionJob(**data) if data else None


def completion_stop_request(job_id: str) -> None:
    """The client went away: its job is not started, or stops at its next token."""
    try:
        cache.set(_stop_key(job_id), True, timeout=JOB_TTL_S)
    except Exception:  # the worker then generates to the end: wasted, not wrong
        logger.warning("Could not ask completion %s to stop", job_id, exc_info=True)


def completion_stop_requested(job_id: str) -> bool:
    try:
        return bool(cache.get(_stop_key(job_id)))
    except Exception:
        return False


def completion_publish(job_id: str, event_type: str, **fields: Any) -> None:
    publish(completion_topic(job_id), {"type": event_type, **fields})
