"""A thread per model job in the worker, at most as many as its model decodes at once.

The worker's Celery pool stays ``solo`` (one thread talks to the broker: Celery's threads
pool acks from its pool threads on the shared Redis connection, which broke the connection in
our tests). Each model task hands its job to ``job_threads_run``, which waits for a free place
and starts the job on a thread of its own, so the task returns (and is acknowledged) once its
job has started, and the worker takes the next task while the engine decodes both. Tasks the
worker has no room for wait on the broker, where queue places count them.

A worker asked to stop (SIGTERM) lets its running jobs end: the threads are not daemons.
"""

import logging
import threading
from collections.abc import Callable
from functools import cache

from django.conf import settings
from django.db import connections

from llm.model import model_spec_from_settings, spec_slots

logger = logging.getLogger(__name__)


@cache
def _places() -> threading.BoundedSemaphore:
    """``LLM_WORKER_SLOTS`` (set by ``model_workers`` for the model it plans), else the
    default model's slots."""
    places = settings.LLM_WORKER_SLOTS or spec_slots(model_spec_from_settings())
    return threading.BoundedSemaphore(places)


def job_threads_run(job: Callable[[], None], *, name: str) -> None:
    """Run ``job`` on a thread of its own once fewer jobs than the model's slots run."""
    places = _places()
    places.acquire()

    def run() -> None:
        try:
            job()
        except Exception:  # a job ends its own record; this is a bug, logged
            logger.exception("Model job %s failed outside its own handling", name)
        finally:
            connections.close_all()  # this thread's connections only
            places.release()

    threading.Thread(target=run, name=name).start()
