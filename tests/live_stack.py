"""The real stack for integration and browser tests: daphne and a Celery worker as processes.

Both run on the test database (a file for SQLite, ``test_*`` for PostgreSQL) and the test Redis,
so tests that commit data (``transactional_db``) see the same world as the servers.
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from workspace.celery import app as celery_app

LOG_DIR = settings.VAR_DIR / "test-logs"
START_TIMEOUT_S = 90
# The model worker as `python -m ...` arguments: one process, the llm queue only.
WORKER_ARGS = [
    "celery", "-A", "workspace", "worker", "-Q", "llm", "--pool", "solo",
    "--concurrency", "1", "--without-gossip", "--without-mingle",
    "--without-heartbeat", "-l", "info",
]  # fmt: skip


def daphne_args(port: int) -> list[str]:
    """daphne serving the project on ``port``, as `python -m ...` arguments."""
    return ["daphne", "-b", "127.0.0.1", "-p", str(port), "workspace.asgi:application"]


@dataclass
class LiveStack:
    host: str
    port: int
    env: dict[str, str]
    worker: subprocess.Popen[bytes]

    def kill_worker(self) -> None:
        """Kill the model worker at once, as a crash or the OOM killer would (SIGKILL)."""
        self.worker.kill()
        self.worker.wait(timeout=15)

    def start_worker(self) -> None:
        self.worker = start_worker(self.env)

    @contextmanager
    def another_web_replica(self) -> Iterator["LiveStack"]:
        """A second daphne on the same database and Redis, as a scaled-out deployment has."""
        port = _free_port()
        web, log = _start("daphne-2", daphne_args(port), self.env)
        try:
            _wait_for(lambda: _port_open(port), web, log)
            yield LiveStack(host=self.host, port=port, env=self.env, worker=self.worker)
        finally:
            web.terminate()
            web.wait(timeout=15)

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"


def database_url() -> str:
    """The URL of the database the tests use, for the server processes' DATABASE_URL."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    return (
        f"postgres://{user}{password}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(ready: Callable[[], bool], process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{process.args!r} did not start; its log:\n{log.read_text()}")
        time.sleep(0.1)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _start(
    name: str, args: list[str], env: dict[str, str], *, log_dir: Path = LOG_DIR
) -> tuple[subprocess.Popen[bytes], Path]:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    return process, log


def stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    """Ask every process to stop, then kill the ones still running after 15 s."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def start_worker(env: dict[str, str], name: str = "worker") -> subprocess.Popen[bytes]:
    """Start a model worker and wait until it is ready for tasks."""
    worker, log = _start(name, WORKER_ARGS, env)
    _wait_for(lambda: "ready." in log.read_text(), worker, log)
    return worker


@contextmanager
def live_stack_running() -> Iterator[LiveStack]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "workspace.settings",
        "PYTHONUNBUFFERED": "1",
    }
    # Tasks left on the broker by earlier tests name messages that no longer exist.
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_purge("llm")  # type: ignore[attr-defined]
    port = _free_port()
    processes: list[subprocess.Popen[bytes]] = []
    stack: LiveStack | None = None
    try:
        web, web_log = _start("daphne", daphne_args(port), env)
        processes.append(web)
        _wait_for(lambda: _port_open(port), web, web_log)
        stack = LiveStack(host="127.0.0.1", port=port, env=env, worker=start_worker(env))
        yield stack
    finally:
        if stack is not None:
            processes.append(stack.worker)
        stop_processes(processes)
