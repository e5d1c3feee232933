"""The real stack as processes: daphne, Celery model workers and the ingest worker, on this
process's DB and Redis.

The live and browser tests (``tests/conftest.py``'s ``live_stack``) and the benchmark
(``bench/stack.py``) start the same commands, wait for them and stop them the same way, so the
stack the benchmark measures is the one the tests check. The servers run on the database and
Redis this process uses (for tests: a file for SQLite or ``test_*`` for PostgreSQL, and the
test Redis), so data a test commits (``transactional_db``) is the world the servers see.
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar, Self
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from config.celery import app as celery_app
from config.stacks import STACKS_SIGNAL
from knowledge.workers import ingest_worker_args
from llm.routing import DEFAULT_QUEUE
from llm.workers import worker_args
from notifications.vapid import vapid_key_new

# Where the servers' logs go; `make test` gives each pytest-xdist worker a folder of its own.
TEST_LOG_DIR = Path(os.environ.get("TEST_LOG_DIR") or settings.VAR_DIR / "test-logs")
START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 15
# Push notifications need a VAPID key: the servers get one of this run's, never var/'s.
VAPID_KEY = os.environ.get("VAPID_PRIVATE_KEY") or vapid_key_new()


# Each server this process started, and its log: what a failed test reports (``servers_report``).
_started: list[tuple[subprocess.Popen[bytes], Path]] = []
STACKS_WAIT_S = 1.0  # for the servers to write their threads' stacks to their logs
REPORT_LOG_LINES = 60


# daphne closes a socket whose message passes 1 MiB without a word: let messages up to the
# size of a whole document through, so the server can refuse a too-large change with a reason.
DAPHNE_MESSAGE_LIMIT = str(8 * 1024 * 1024)


def daphne_args(port: int) -> list[str]:
    """daphne serving the project on ``port``, as `python -m ...` arguments (as the Procfile)."""
    return [
        "daphne", "-b", "127.0.0.1", "-p", str(port),
        "--websocket-max-message-size", DAPHNE_MESSAGE_LIMIT,
        "--websocket-max-frame-size", DAPHNE_MESSAGE_LIMIT,
        "config.asgi:application",
    ]  # fmt: skip


def database_url() -> str:
    """The URL of the database this process uses, for the server processes' DATABASE_URL."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    return (
        f"postgres://{user}{password}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"
    )


def server_env() -> dict[str, str]:
    """This process's environment, pointing a server at this process's database and Redis."""
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONUNBUFFERED": "1",
        "VAPID_PRIVATE_KEY": VAPID_KEY,
    }


def llm_queue_purge() -> None:
    """Drop tasks left on the broker: they name messages that no longer exist."""
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_purge(DEFAULT_QUEUE)  # type: ignore[attr-defined]


def web_start(
    env: dict[str, str], *, name: str = "daphne", log_dir: Path = TEST_LOG_DIR
) -> tuple[subprocess.Popen[bytes], int]:
    """Start daphne on a free port and wait until it accepts connections."""
    return server_start(name, daphne_args, env, log_dir=log_dir)


def server_start(
    name: str,
    args_for: Callable[[int], list[str]],
    env: dict[str, str],
    *,
    log_dir: Path = TEST_LOG_DIR,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start the server ``args_for(port)`` (``python -m`` arguments) on a free port and wait
    until it accepts connections (daphne, or the benchmark's reference server)."""
    port = _free_port()
    server = _process_start(name, args_for(port), env, log_dir, ready=lambda _: _port_open(port))
    return server, port


def worker_start(
    env: dict[str, str],
    *,
    queue: str = DEFAULT_QUEUE,
    name: str = "worker",
    log_dir: Path = TEST_LOG_DIR,
) -> subprocess.Popen[bytes]:
    """Start a worker for the model of ``queue`` (the default model's unless told otherwise)
    and wait until it is ready for tasks."""
    env = {**env, "LLM_WORKER_QUEUE": queue}
    return _process_start(
        name, worker_args(queue, log_level="info"), env, log_dir, ready=lambda log: "ready." in log
    )


def ingest_worker_start(
    env: dict[str, str], *, name: str = "worker-ingest", log_dir: Path = TEST_LOG_DIR
) -> subprocess.Popen[bytes]:
    """Start the ingest worker (as ``manage.py ingest_worker`` does) and wait until it is
    ready for tasks."""
    return _process_start(
        name, ingest_worker_args(log_level="info"), env, log_dir, ready=lambda log: "ready." in log
    )


def processes_stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """Ask every process to stop, then kill the ones still running after STOP_TIMEOUT_S."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _process_start(
    name: str, args: list[str], env: dict[str, str], log_dir: Path, *, ready: Callable[[str], bool]
) -> subprocess.Popen[bytes]:
    """Run ``python -m args`` logging to ``log_dir/name.log``; wait until ``ready(log text)``.

    A process that exits or is not ready within START_TIMEOUT_S is stopped, and its log is in
    the error.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    _started.append((process, log))
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready(log.read_text()):
        if process.poll() is not None or time.monotonic() > deadline:
            processes_stop([process])
            raise RuntimeError(f"{process.args!r} did not start; its log:\n{log.read_text()}")
        time.sleep(0.1)
    return process


def servers_report() -> str:
    """What each server still running is doing: its threads' stacks (``config.stacks``) and
    the end of its log, for the report of a test that failed while they ran."""
    _started[:] = [(process, log) for process, log in _started if process.poll() is None]
    for process, _log in _started:
        process.send_signal(STACKS_SIGNAL)
    if _started:
        time.sleep(STACKS_WAIT_S)
    return "\n\n".join(
        f"--- {log.name} (pid {process.pid}), its last {REPORT_LOG_LINES} lines:\n"
        + "\n".join(log.read_text(errors="replace").splitlines()[-REPORT_LOG_LINES:])
        for process, log in _started
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class WebStack:
    """daphne serving the project; documents and sockets need nothing more."""

    host: str
    port: int
    env: dict[str, str]
    log_name: ClassVar[str] = "daphne-web-only"

    @contextmanager
    def another_web_replica(self) -> Iterator[Self]:
        """A second daphne on the same database and Redis, as a scaled-out deployment has."""
        web, port = web_start(self.env, name=f"{self.log_name}-2")
        try:
            yield replace(self, port=port)
        finally:
            processes_stop([web])

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"


@dataclass
class LiveStack(WebStack):
    """daphne and the model worker: the whole loop of an answer."""

    worker: subprocess.Popen[bytes]
    log_name: ClassVar[str] = "daphne"

    def kill_worker(self) -> None:
        """Kill the model worker at once, as a crash or the OOM killer would (SIGKILL)."""
        self.worker.kill()
        self.worker.wait(timeout=STOP_TIMEOUT_S)

    def start_worker(self) -> None:
        self.worker = worker_start(self.env)


@contextmanager
def web_stack_running() -> Iterator[WebStack]:
    """daphne alone (no model), stopped when the block ends."""
    web, port = web_start(server_env(), name=WebStack.log_name)
    try:
        yield WebStack(host="127.0.0.1", port=port, env=server_env())
    finally:
        processes_stop([web])


@contextmanager
def live_stack_running() -> Iterator[LiveStack]:
    """daphne and one model worker, stopped when the block ends."""
    env = server_env()
    llm_queue_purge()
    web, port = web_start(env)
    stack: LiveStack | None = None
    try:
        stack = LiveStack(host="127.0.0.1", port=port, env=env, worker=worker_start(env))
        yield stack
    finally:
        processes_stop([web] if stack is None else [web, stack.worker])
