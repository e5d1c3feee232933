"""The real stack for the benchmark: N daphne processes and one Celery model worker.

Started, waited for and stopped by the live-stack harness the tests use (``harness/``); the
worker can be restarted with other settings (the per-token baseline sets LLM_FRAME_INTERVAL_S=0).
"""

import subprocess
from pathlib import Path

import psutil
from django.conf import settings

from harness.live_stack import (
    WebStack,
    llm_queue_purge,
    processes_stop,
    server_env,
    web_start,
    worker_start,
)

LOG_DIR = settings.VAR_DIR / "bench-logs"


class BenchStack:
    def __init__(self, *, web_processes: int) -> None:
        self.env = server_env()
        self.ports: list[int] = []
        self.webs: list[subprocess.Popen[bytes]] = []
        self.worker: subprocess.Popen[bytes] | None = None
        self.worker_env: dict[str, str] = {}
        try:
            for i in range(web_processes):
                web, port = web_start(self.env, name=f"daphne-{i}", log_dir=LOG_DIR)
                self.webs.append(web)
                self.ports.append(port)
        except Exception:
            self.close()
            raise

    def ws_url(self, replica: int, thread_id: int) -> str:
        return f"ws://127.0.0.1:{self.ports[replica]}/ws/threads/{thread_id}/"

    def web_stack(self, replica: int) -> WebStack:
        """Replica ``replica`` (counted round the replicas), as the harness's clients take it."""
        return WebStack(host="127.0.0.1", port=self.ports[replica % len(self.ports)], env=self.env)

    def origin(self, replica: int = 0) -> str:
        return f"http://127.0.0.1:{self.ports[replica]}"

    def web_process(self, replica: int = 0) -> psutil.Process:
        return psutil.Process(self.webs[replica].pid)

    def start_worker(self, **extra_env: str) -> None:
        """(Re)start the model worker with ``extra_env`` on top of the bench settings."""
        self.stop_worker()
        llm_queue_purge()
        self.worker_env = extra_env
        self.worker = worker_start({**self.env, **extra_env}, log_dir=LOG_DIR)

    def worker_process(self) -> psutil.Process | None:
        return psutil.Process(self.worker.pid) if self.worker else None

    def stop_worker(self) -> None:
        if self.worker is not None:
            processes_stop([self.worker])
            self.worker = None

    def close(self) -> None:
        self.stop_worker()
        processes_stop(self.webs)
        self.webs = []

    @staticmethod
    def log_dir() -> Path:
        return LOG_DIR
