"""The model worker's part of a job, run by the test itself.

A test asks as a person does (the services queue a job), runs the worker's part of the job
here, and checks what people see. These are what the worker's Celery tasks run, without the
task's thread (``assistant.tasks``, ``documents.tasks``, ``api.tasks``): this module is the one place the tests name where that code
lives, so that moving it changes one import here and no test.
"""

import threading
import time
from collections.abc import Callable

from django.db import connections

from api.completion_generation import completion_generate
from assistant.answers import reply_generate
from documents.write_job import document_write_generate
from llm.backends import FakeBackend, FakeVocabulary
from llm.model import ModelSpec, model_load, model_spec_from_settings

__all__ = [
    "completion_generate",
    "document_write_generate",
    "fake_answer",
    "in_background",
    "in_threads",
    "joined",
    "reply_generate",
    "stand_in",
    "until",
]

WAIT_S = 30


def fake_answer(words: int) -> str:
    """What the stand-in model (``LLM_BACKEND=fake``) answers in ``words`` words."""
    return "".join(f" w{n}" for n in range(1, words + 1))


def stand_in(spec: ModelSpec | None = None) -> tuple[FakeBackend, FakeVocabulary]:
    """The stand-in model (``fake_model``) as the worker loaded it, the default model's unless
    ``spec``: what it decoded, with which sampling, and what it read."""
    model = model_load(spec or model_spec_from_settings())
    backend, vocabulary = model.engine.backend, model.vocabulary
    assert isinstance(backend, FakeBackend), "the fake_model fixture makes models stand-ins"
    assert isinstance(vocabulary, FakeVocabulary)
    return backend, vocabulary


def _on_own_connection(job: Callable[[], None]) -> Callable[[], None]:
    """``job`` as a worker thread runs it: closing its database connection when done (else
    PostgreSQL cannot drop the test database at the end)."""

    def run() -> None:
        try:
            job()
        finally:
            connections.close_all()

    return run


def in_background(job: Callable[[], None]) -> threading.Thread:
    """``job`` started on a thread of its own, as the worker runs each job; its changes are
    seen by transactional tests only."""
    thread = threading.Thread(target=_on_own_connection(job))
    thread.start()
    return thread


def joined(thread: threading.Thread) -> None:
    thread.join(timeout=WAIT_S)
    assert not thread.is_alive(), "a job did not end"


def in_threads(*jobs: Callable[[], None]) -> None:
    """Run ``jobs`` at once, each on a thread of its own, until every one has ended."""
    for thread in [in_background(job) for job in jobs]:
        joined(thread)


def until(condition: Callable[[], bool], *, what: str) -> None:
    """Wait for ``condition()`` to hold (polled), failing after WAIT_S saying ``what`` did not
    happen: a test waits for the state it needs, never for a fixed time."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {WAIT_S} s"
        time.sleep(0.01)
