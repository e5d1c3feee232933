"""Which model workers this machine runs: one per served model, as many as fit in memory.

``manage.py model_workers`` (``make run``'s ``worker`` process) plans them here, says which it
starts and which it leaves out (and why), then runs them as child processes.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from .gguf import GgufError, gguf_read
from .model import model_spec_from_settings
from .models import LanguageModel
from .routing import DEFAULT_QUEUE
from .services import machine_memory_bytes

# What a worker process takes besides its model: Python, Django, Celery, llama.cpp's buffers.
WORKER_OVERHEAD_BYTES = 250 * 2**20


@dataclass(frozen=True)
class PlannedWorker:
    queue: str
    model_name: str
    memory_bytes: int  # its model with a full context, and the process around it


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
    order, while their sum fits in ``memory_bytes``; a model that cannot serve is left out."""
    default = model_spec_from_settings()
    candidates: list[tuple[str, str, Path, int]] = [
        (DEFAULT_QUEUE, default.name or default.path.stem, default.path, default.n_ctx)
    ]
    left_out: list[tuple[str, str]] = []
    for model in LanguageModel.objects.order_by("name"):
        if not model.enabled:
            left_out.append((model.name, "switched off in the admin"))
        elif not model.available:
            left_out.append((model.name, f"unavailable: {model.unavailable_reason}"))
        else:
            candidates.append((model.queue, model.name, model.file, model.n_ctx))
    started, free = [], memory_bytes
    for queue, name, path, n_ctx in candidates:
        try:
            needed = gguf_read(path).memory_needed(n_ctx) + WORKER_OVERHEAD_BYTES
        except GgufError as exc:
            left_out.append((name, str(exc)))
            continue
        if needed > free:
            left_out.append(
                (name, f"needs about {needed / 2**20:,.0f} MiB, {free / 2**20:,.0f} MiB left")
            )
            continue
        started.append(PlannedWorker(queue=queue, model_name=name, memory_bytes=needed))
        free -= needed
    return WorkersPlan(started=started, left_out=left_out)


def worker_args(queue: str, *, log_level: str = "warning") -> list[str]:
    """The Celery worker that serves ``queue``'s model, as ``python -m`` arguments: one
    process, one job at a time."""
    return [
        "celery", "-A", "workspace", "--quiet", "worker",
        "-Q", queue, "-n", f"{queue}@%h", "--pool", "solo", "--concurrency", "1",
        "--without-gossip", "--without-mingle", "-l", log_level,
    ]  # fmt: skip


def available_memory_bytes() -> int:
    """Memory this machine can give now (``MemAvailable``), else all of it."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return machine_memory_bytes()
