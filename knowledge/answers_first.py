"""Answers first: ingestion steps aside while the installation's models have work.

A lower CPU priority is not enough on a machine that runs its models on its CPU: the ingest
worker and the model share memory bandwidth and caches, and an answer read at the lowest
priority beside a PDF being parsed still lost a third of its speed and doubled its first-token
time. So between steps (a batch of passages embedded, a page parsed, a source begun) the
ingest worker asks whether any model job is running or just queued (``jobs.selectors``, one
indexed lookup per step) and, while one is, waits, polling every POLL_S.
A queued job counts so that ingestion has stepped aside before the answer's prompt is read.

The rules against starving, both ``KNOWLEDGE_YIELD_MAX_WAIT_S`` long: a wait lasts at most
that long, then one step proceeds before the next wait (a thread answering nonstop slows
ingestion to a step per that time, never stops it); and a job queued longer than that without
starting (its model's worker is away) is not waited for. ``KNOWLEDGE_YIELD_TO_MODEL_JOBS`` turns
all of this off (models that run on other machines, on GPUs, do not compete with ingestion).
"""

import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from jobs.selectors import jobs_any_active

POLL_S = 0.25  # while waiting: how soon ingestion resumes, and notices a cancel


class AnswersFirst:
    """The pauses of one ingestion run. ``waiting(True)`` is called as a wait begins and
    ``waiting(False)`` as it ends (the run shows it on its row); ``still_wanted()`` on every
    poll while waiting, raising to end the run (a cancel is noticed within POLL_S)."""

    def __init__(
        self,
        *,
        waiting: Callable[[bool], None] = lambda _: None,
        still_wanted: Callable[[], None] = lambda: None,
    ) -> None:
        self._waiting = waiting
        self._still_wanted = still_wanted

    def busy(self) -> bool:
        """Whether a model job is running or was just queued (asked before every step: a
        step is a page or a batch, tens of milliseconds or more, and the lookup a fraction of
        one; an answer that starts between two steps waits at most one step)."""
        return settings.KNOWLEDGE_YIELD_TO_MODEL_JOBS and _models_busy()

    def wait(self) -> None:
        """Wait until no model job is queued or running, or KNOWLEDGE_YIELD_MAX_WAIT_S has
        passed (then the caller's next step proceeds anyway)."""
        until = time.monotonic() + settings.KNOWLEDGE_YIELD_MAX_WAIT_S
        self._waiting(True)
        try:
            while time.monotonic() < until:
                time.sleep(POLL_S)
                self._still_wanted()
                if not _models_busy():
                    return
        finally:
            self._waiting(False)

    def step(self) -> None:
        """Before a step of ingestion: wait first if the models are busy."""
        if self.busy():
            self.wait()


def _models_busy() -> bool:
    max_wait = timedelta(seconds=settings.KNOWLEDGE_YIELD_MAX_WAIT_S)
    return jobs_any_active(queued_since=timezone.now() - max_wait)
