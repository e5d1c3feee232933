import os
import signal
import subprocess
import sys
import time
from types import FrameType

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from llm.model import model_spec_from_settings, spec_slots
from llm.models import LanguageModel
from llm.routing import DEFAULT_QUEUE
from llm.services import models_register_bundled
from llm.workers import available_memory_bytes, worker_args, worker_env, workers_plan


class Command(BaseCommand):
    help = (
        "Run a model worker for the default model and for each enabled registered model, as "
        "many as fit in memory (say which, and why any is left out). Ctrl-C stops them all; "
        "if one exits, the others are stopped too."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        only = parser.add_mutually_exclusive_group()
        only.add_argument(
            "--model",
            metavar="NAME",
            help="Become the worker of this registered model only (one container per model).",
        )
        only.add_argument(
            "--default-model",
            action="store_true",
            help="Become the worker of the default model (LLM_MODEL_PATH) only.",
        )
        parser.add_argument(
            "--memory-mib",
            type=int,
            default=0,
            help="Memory the workers may take together; default: what this machine has free.",
        )

    def handle(
        self,
        *args: object,
        model: str | None,
        default_model: bool,
        memory_mib: int,
        **options: object,
    ) -> None:
        models_register_bundled()  # joins a bundled file this machine lacks (a new container)
        if model or default_model:
            queue, slots = DEFAULT_QUEUE, spec_slots(model_spec_from_settings())
            if model:
                registered = LanguageModel.objects.filter(name=model).first()
                if registered is None:
                    raise CommandError(f"No model is registered as {model!r}.")
                queue, slots = registered.queue, registered.answers_at_once
            self.stdout.write(
                f"Model worker for {model or 'the default model'} on queue {queue}, "
                f"{slots} answers at once"
            )
            self.stdout.flush()
            os.environ.update({"LLM_WORKER_QUEUE": queue, "LLM_WORKER_SLOTS": str(slots)})
            argv = [sys.executable, "-m", *worker_args(queue)]
            os.execv(argv[0], argv)  # noqa: S606 - become the worker, so signals reach it
        budget = memory_mib * 2**20 or available_memory_bytes()
        plan = workers_plan(memory_bytes=budget)
        self.stdout.write(
            f"Model workers ({budget / 2**20:,.0f} MiB of memory for them, at most "
            f"{plan.threads_each} CPU thread(s) each):"
        )
        for worker in plan.started:
            self.stdout.write(
                f"    {worker.model_name} on queue {worker.queue}: {worker.slots} answers at "
                f"once (about {worker.memory_bytes / 2**20:,.0f} MiB)"
            )
        for name, why in plan.left_out:
            self.stdout.write(f"    not started: {name} ({why})")
        if not plan.started:
            self.stderr.write("No model fits: assistants will not answer until one does.")
        self.stdout.flush()
        children = [
            subprocess.Popen(
                [sys.executable, "-m", *worker_args(worker.queue)],
                env={**_environ(), **worker_env(worker, threads_each=plan.threads_each)},
            )
            for worker in plan.started
        ]
        sys.exit(_supervise(children))


def _environ() -> dict[str, str]:
    return {**os.environ, "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE}


def _supervise(children: list[subprocess.Popen[bytes]]) -> int:
    """Wait until a signal comes or a child exits; then stop every child and return the
    first exit status (honcho then stops the rest of ``make run``)."""
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    while not stopping and all(child.poll() is None for child in children):
        time.sleep(0.5)
    for child in children:
        if child.poll() is None:
            child.terminate()
        elif not status:
            status = child.returncode
    for child in children:
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
    return status
