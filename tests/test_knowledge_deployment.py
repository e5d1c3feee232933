"""Ingestion runs on its own queue, in its own worker, wherever the app is started, reading
several sources at once (a pool of KNOWLEDGE_INGEST_CONCURRENCY threads)."""

import os
import shlex
import sys

import pytest
from django.core.management import call_command

from knowledge.workers import ingest_worker_args

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


def test_the_ingest_worker_reads_that_queue_with_a_pool_of_threads(settings: object) -> None:
    settings.KNOWLEDGE_INGEST_CONCURRENCY = 6  # type: ignore[attr-defined]
    argv = ingest_worker_args()
    assert argv[:3] == ["celery", "-A", "config"]
    assert option_value(argv, "-Q", "--queues") == _ingest_queue()
    assert option_value(argv, "-P", "--pool") == "threads"
    assert option_value(argv, "-c", "--concurrency") == "6"
    assert "--beat" not in argv
    assert "-B" not in argv


def test_manage_py_ingest_worker_becomes_that_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    became: list[list[str]] = []
    monkeypatch.setattr(os, "execv", lambda path, argv: became.append(argv))
    call_command("ingest_worker", "--loglevel", "info")
    assert became == [[sys.executable, "-m", *ingest_worker_args(log_level="info")]]


def test_compose_runs_the_ingest_worker_from_the_app_image() -> None:
    ingest = service("ingest")
    assert command_of(ingest)[:3] == ["python", "manage.py", "ingest_worker"]
    assert ingest.get("image") == service("web").get("image")
    assert set(ingest["depends_on"]) == {"migrate", "redis"}


def test_the_procfile_runs_the_ingest_worker_and_make_run_starts_it() -> None:
    lines = dict(
        line.split(":", 1) for line in (BASE_DIR / "Procfile").read_text().splitlines() if line
    )
    assert "embedded_redis --wait" in lines["ingest"]
    assert shlex.split(lines["ingest"].split("&&")[-1]) == ["python", "manage.py", "ingest_worker"]
    run = next(
        line for line in (BASE_DIR / "Makefile").read_text().splitlines() if "honcho" in line
    )
    assert " ingest " in run
