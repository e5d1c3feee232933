"""The ingest worker's command line: one definition for ``make run``, compose, the live tests
and the benchmark (``manage.py ingest_worker`` becomes it)."""

from django.conf import settings


def ingest_worker_args(*, log_level: str = "warning") -> list[str]:
    """The Celery worker that reads sources, as ``python -m`` arguments: on the queue that
    ``knowledge.*`` tasks go to, a pool of KNOWLEDGE_INGEST_CONCURRENCY threads, each reading
    one source (fetching waits on the network and parsing runs in a child process, so threads
    read sources side by side; a slow server or a large file holds up only its own)."""
    queue = settings.TASK_QUEUES["knowledge.*"]["queue"]
    return [
        "celery", "-A", "config", "--quiet", "worker",
        "-Q", queue, "-n", f"{queue}@%h",
        "--pool", "threads", "--concurrency", str(settings.KNOWLEDGE_INGEST_CONCURRENCY),
        "--without-gossip", "--without-mingle", "-l", log_level,
    ]  # fmt: skip
