"""The kinds of model work, as each feature registers its own with the lifecycle.

The lifecycle (``jobs.services``) knows no feature: what a kind's worker task is, what to do
when the lifecycle itself ends one of its jobs (a stop while it waits, the sweep of a silent
worker) and how to show its queued jobs their new places are the kind's, registered here
from its app's ``ready``. The next kind of model work (a summary, an agent step) registers
one more of these; nothing of the lifecycle is copied.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import ModelJob


@dataclass(frozen=True)
class JobKind:
    name: str
    task: str  # the model worker's Celery task for it
    task_args: Callable[["ModelJob"], list[Any]]  # what the task is given for a job
    ended_here: Callable[["ModelJob"], None]
    """The lifecycle ended the job itself (stopped while queued, interrupted as silent):
    bring the kind's own record along. Runs in the transaction that ended it; publish on
    commit."""
    places_changed: Callable[[list["ModelJob"]], None]
    """These queued jobs of the kind moved up their queue (after commit)."""


_kinds: dict[str, JobKind] = {}


def job_kind_register(kind: JobKind) -> None:
    _kinds[kind.name] = kind


def job_kind(name: str) -> JobKind:
    return _kinds[name]
