"""One queue per model: which queue a model job goes to, and which jobs a worker may run.

The installation's default model (``LLM_MODEL_PATH``: the default assistant and the
assistant's writes into documents) has the queue ``llm``; each registered model its own,
``llm.model-<id>``. A worker serves one model file: its queue, and the queue of the
registered copy of the same file if there is one (``llm.workers``); it decodes several of
its jobs together (``llm.engine``), and two models answer at once on two workers.

Celery asks ``route_model_job`` for the queue of each task it sends (``CELERY_TASK_ROUTES``),
so model jobs are enqueued by task name and never name a queue. The job lifecycle
(``jobs.services.job_enqueue``) says which model a job is for in a header of its task
(``JOB_MODEL_HEADER``): routing it, in the web process, then reads nothing.
"""

from typing import Any

from django.conf import settings

from .models import LanguageModel

DEFAULT_QUEUE = "llm"
COMPLETE_CHAT_TASK = "llm.complete_chat"
JOB_MODEL_HEADER = "model_id"  # a model job's task: its model's id (None: the default model)


def model_queue(model_id: int | None) -> str:
    """The queue of the registered model ``model_id`` (``LanguageModel.queue``); None: the
    default model's."""
    return DEFAULT_QUEUE if model_id is None else LanguageModel(pk=model_id).queue


def route_model_job(name: str, args: Any, kwargs: Any, options: Any, **_: Any) -> Any:
    """Celery's router for the model tasks (``llm.*``); None leaves other tasks to the routes
    that follow it."""
    headers = (options or {}).get("headers") or {}
    if JOB_MODEL_HEADER in headers:
        return {"queue": model_queue(headers[JOB_MODEL_HEADER])}
    if name.startswith("llm."):
        return {"queue": DEFAULT_QUEUE}
    return None


def served_queues() -> list[str]:
    """The queues this worker process consumes (``LLM_WORKER_QUEUE``, comma-separated, set
    by the ``model_workers`` command); none when not started by it (any job is run)."""
    return [queue for queue in str(settings.LLM_WORKER_QUEUE).split(",") if queue]


def job_belongs_here(queue: str) -> bool:
    """Whether this worker should run a job for ``queue``: an assistant whose model changed
    after its answer was queued is answered by the new model's worker, not loaded here."""
    served = served_queues()
    return not served or queue in served
