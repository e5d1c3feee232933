"""The real stack for the benchmark: N daphne processes and one Celery model worker.

Reuses the live-stack helpers of the test suite (process start, readiness, database URL); the
worker can be restarted with other settings (the per-token baseline sets LLM_FRAME_INTERVAL_S=0).
"""

import os
import subprocess
from pathlib import Path

import psutil
from django.conf import settings

from tests.live_stack import (
    WORKER_ARGS,
    _free_port,
    _port_open,
    _start,
    _wait_for,
    daphne_args,
    database_url,
    stop_processes,
)
from workspace.celery import app as celery_app

LOG_DIR = settings.VAR_DIR / "bench-logs"


class BenchStack:
    def __init__(self, *, web_processes: int) -> None:
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "DJANGO_SETTINGS_MODULE": "workspace.settings",
            "PYTHONUNBUFFERED": "1",
        }
        self.ports: list[int] = []
        self.webs: list[subprocess.Popen[bytes]] = []
        self.worker: subprocess.Popen[bytes] | None = None
        self.worker_env: dict[str, str] = {}
        try:
            for i in range(web_processes):
                port = _free_port()
                web, log = _start(f"daphne-{i}", daphne_args(port), self.env, log_dir=LOG_DIR)
                self.webs.append(web)
                self.ports.append(port)
                _wait_for(lambda port=port: _port_open(port), web, log)  # type: ignore[misc]
        except Exception:
            self.close()
            raise

    def ws_url(self, replica: int, thread_id: int) -> str:
        return f"ws://127.0.0.1:{self.ports[replica]}/ws/threads/{thread_id}/"

    def origin(self, replica: int = 0) -> str:
        return f"http://127.0.0.1:{self.ports[replica]}"

    def web_process(self, replica: int = 0) -> psutil.Process:
        return psutil.Process(self.webs[replica].pid)

    def start_worker(self, **extra_env: str) -> None:
        """(Re)start the model worker with ``extra_env`` on top of the bench settings."""
        self.stop_worker()
        with celery_app.connection_for_write() as conn:
            conn.default_channel.queue_purge("llm")  # type: ignore[attr-defined]
        self.worker_env = extra_env
        worker, log = _start("worker", WORKER_ARGS, {**self.env, **extra_env}, log_dir=LOG_DIR)
        self.worker = worker
        _wait_for(lambda: "ready." in log.read_text(), worker, log)

    def worker_process(self) -> psutil.Process | None:
        return psutil.Process(self.worker.pid) if self.worker else None

    def stop_worker(self) -> None:
        if self.worker is not None:
            stop_processes([self.worker])
            self.worker = None

    def close(self) -> None:
        self.stop_worker()
        stop_processes(self.webs)
        self.webs = []

    @staticmethod
    def log_dir() -> Path:
        return LOG_DIR
