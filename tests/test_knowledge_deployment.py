"""Ingestion runs on its own queue, in its own worker, wherever the app is started, reading
several sources at once (a pool of threads: KNOWLEDGE_INGEST_CONCURRENCY)."""

import shlex
from pathlib import Path

from .test_deployment_files import (
    BASE_DIR,
    command_of,
    option_value,
    service,
    settings_literal,
)


def _ingest_queue() -> str:
    return settings_literal("TASK_QUEUES")["knowledge.*"]["queue"]


def test_knowledge_tasks_go_to_a_queue_no_model_worker_or_housekeeping_consumes() -> None:
    queues = settings_literal("TASK_QUEUES")
    assert _ingest_queue() == "ingest"
    assert _ingest_queue() not in {queues["llm.*"]["queue"], queues["chat.*"]["queue"]}


def test_compose_runs_an_ingest_worker_on_that_queue_from_the_app_image() -> None:
    ingest = service("ingest")
    argv = command_of(ingest)
    assert Path(argv[0]).name == "celery"
    assert option_value(argv, "-A", "--app") == "config"
    assert option_value(argv, "-Q", "--queues") == _ingest_queue()
    assert "--beat" not in argv
    assert "-B" not in argv
    assert ingest.get("image") == service("web").get("image")
    assert set(ingest["depends_on"]) == {"migrate", "redis"}
    _reads_several_sources_at_once(argv)


def _reads_several_sources_at_once(argv: list[str]) -> None:
    assert option_value(argv, "-P", "--pool") == "threads"
    assert option_value(argv, "-c", "--concurrency") == "${KNOWLEDGE_INGEST_CONCURRENCY:-4}"


def test_the_procfile_runs_an_ingest_worker_and_make_run_starts_it() -> None:
    lines = dict(
        line.split(":", 1) for line in (BASE_DIR / "Procfile").read_text().splitlines() if line
    )
    worker = shlex.split(lines["ingest"].split("&&")[-1])
    assert worker[:2] == ["celery", "-A"]
    assert option_value(worker, "-Q", "--queues") == _ingest_queue()
    assert "embedded_redis --wait" in lines["ingest"]
    _reads_several_sources_at_once(worker)
    run = next(
        line for line in (BASE_DIR / "Makefile").read_text().splitlines() if "honcho" in line
    )
    assert " ingest " in run
