"""Which model workers this machine runs: one per model file, as many as fit in memory.

``manage.py model_workers`` (``make run``'s ``worker`` process) plans them here, says which it
starts and which it leaves out (and why), then runs them as child processes.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from .gguf import GgufError, gguf_read
from .model import default_slots, model_spec_from_settings, spec_slots
from .models import LanguageModel
from .routing import DEFAULT_QUEUE
from .services import file_identity, machine_memory_bytes

# What a worker process takes besides its model: Python, Django, Celery, llama.cpp's buffers.
WORKER_OVERHEAD_BYTES = 250 * 2**20


@dataclass(frozen=True)
class PlannedWorker:
    queues: list[str]  # its model's queue, and the queue of a registered copy of its file
    model_name: str
    slots: int  # answers it decodes together
    memory_bytes: int  # its model with a full context per answer, and the process around it

    @property
    def queue(self) -> str:
        """``LLM_WORKER_QUEUE``: every queue it serves, comma-separated."""
        return ",".join(self.queues)


@dataclass(frozen=True)
class _Candidate:
    queue: str
    name: str
    path: Path
    n_ctx: int
    slots: int


@dataclass(frozen=True)
class WorkersPlan:
    started: list[PlannedWorker]
    left_out: list[tuple[str, str]]  # (model name, why)

    @property
    def threads_each(self) -> int:
        """Each worker's share of the cores: models that answer at once must not ask for more
        threads than there are cores (llama.cpp's waiting threads spin, slowing them all)."""
        return max(1, (os.cpu_count() or 1) // max(1, len(self.started)))


def workers_plan(*, memory_bytes: int) -> WorkersPlan:
    """A worker for the default model, then one for each enabled registered model, in name
    order, while their sum fits in ``memory_bytes``; a model that cannot serve is left out,
    and a registered copy of a file already served is served by that file's worker."""
    default = model_spec_from_settings()
    candidates = [
        _Candidate(
            DEFAULT_QUEUE,
            default.name or default.path.stem,
            default.path,
            default.n_ctx,
            spec_slots(default),
        )
    ]
    left_out: list[tuple[str, str]] = []
    for model in LanguageModel.objects.order_by("name"):
        if not model.enabled:
            left_out.append((model.name, "switched off in the admin"))
        elif not model.available:
            left_out.append((model.name, f"unavailable: {model.unavailable_reason}"))
        else:
            slots = model.slots or default_slots(n_gpu_layers=model.n_gpu_layers)
            candidates.append(_Candidate(model.queue, model.name, model.file, model.n_ctx, slots))
    started: dict[Path, PlannedWorker] = {}
    free = memory_bytes
    for candidate in candidates:
        file = file_identity(candidate.path)
        if (served := started.get(file)) is not None:
            served.queues.append(candidate.queue)
            continue
        try:
            kv_tokens = candidate.n_ctx * candidate.slots
            needed = gguf_read(candidate.path).memory_needed(kv_tokens) + WORKER_OVERHEAD_BYTES
        except GgufError as exc:
            left_out.append((candidate.name, str(exc)))
            continue
        if needed > free:
            left_out.append(
                (
                    candidate.name,
                    f"needs about {needed / 2**20:,.0f} MiB, {free / 2**20:,.0f} MiB left",
                )
            )
            continue
        started[file] = PlannedWorker(
            queues=[candidate.queue],
            model_name=candidate.name,
            slots=candidate.slots,
            memory_bytes=needed,
        )
        free -= needed
    return WorkersPlan(started=list(started.values()), left_out=left_out)


def worker_args(queue: str, *, log_level: str = "warning") -> list[str]:
    """The Celery worker that serves ``queue``'s model (queues, comma-separated), as
    ``python -m`` arguments: one process whose tasks start their jobs on threads of their own
    (``jobs.threads``, as many as ``LLM_WORKER_SLOTS``), all decoded by one engine."""
    name = queue.split(",", maxsplit=1)[0]
    return [
        "celery", "-A", "config", "--quiet", "worker",
        "-Q", queue, "-n", f"{name}@%h", "--pool", "solo", "--concurrency", "1",
        "--without-gossip", "--without-mingle", "-l", log_level,
    ]  # fmt: skip


def worker_env(worker: PlannedWorker, *, threads_each: int) -> dict[str, str]:
    """What a planned worker is told of its share: its queues, slots and cores."""
    return {
        "LLM_WORKER_QUEUE": worker.queue,
        "LLM_WORKER_SLOTS": str(worker.slots),
        "LLM_WORKER_THREADS": str(threads_each),
    }


def available_memory_bytes() -> int:
    """Memory this machine can give now (``MemAvailable``), else all of it."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return machine_memory_bytes()
