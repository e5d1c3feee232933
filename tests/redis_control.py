"""The Redis server the tests use, and a way to restart it mid-test (a fault to inject); who
follows a topic on it.

The embedded server is the suite's own. A configured REDIS_URL (CI's second tier) names the
machine's server, which is restarted with the same flags the machine starts it with, keeping
nothing on disk, as a real restart of such a server loses everything it held.
"""

import contextlib
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import psutil
import redis
from django.conf import settings

from config.embedded_redis import start
from realtime.channel_layer import group_channel

MACHINE_REDIS_FLAGS = [
    "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--save", "", "--appendonly", "no",
    "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log",
]  # fmt: skip


@dataclass
class RedisServer:
    url: str
    socket_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    def restart(self) -> None:
        """Stop the server, losing all it held, and start it again at the same address."""
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None
            return
        with contextlib.suppress(redis.ConnectionError, OSError):  # it hangs up as it stops
            self._client().shutdown(nosave=True)

    def start(self) -> None:
        if self.socket_path is not None:
            self.process = start(self.socket_path)
            return
        Path("/var/lib/redis").mkdir(parents=True, exist_ok=True)
        Path("/var/log/redis").mkdir(parents=True, exist_ok=True)
        port = str(urlparse(self.url).port or 6379)
        subprocess.run(["redis-server", "--port", port, *MACHINE_REDIS_FLAGS], check=True)
        client = self._client()
        deadline = time.monotonic() + 10
        while True:
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.05)

    def _client(self) -> redis.Redis:
        address = urlparse(self.url)
        return redis.Redis(host=address.hostname or "127.0.0.1", port=address.port or 6379)


def redis_clients() -> int:
    """How many connections this process has open to the Redis server.

    Other processes of the run (the live stack's servers) use the same server, and their
    connections come and go meanwhile. Over TCP: the server's clients whose address is one of
    this process's sockets. On the suite's own embedded server (a unix socket, whose clients
    all show the same address): this process's unix sockets, which only Redis's clients are."""
    if urlparse(settings.REDIS_URL).scheme == "unix":
        return len(psutil.Process().net_connections(kind="unix"))
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        listed = {entry["addr"] for entry in client.client_list()}
        own = {
            f"{socket.laddr.ip}:{socket.laddr.port}"
            for socket in psutil.Process().net_connections(kind="tcp")
            if socket.raddr
        }
        return len(listed & own) - 1
    finally:
        client.close()


def topic_followers(topic: str) -> int:
    """How many processes follow ``topic`` on the channel layer (Redis Pub/Sub: each process
    subscribes once to a group's channel, while at least one of its own channels is in it)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        [(_, followers)] = client.pubsub_numsub(group_channel(topic))
    finally:
        client.close()
    return int(followers)


def topic_followed_wait(topic: str, *, followed: bool, timeout_s: float = 10.0) -> bool:
    """Wait until ``topic`` is followed (by a process at least), or no longer; False if it
    is not so after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while (topic_followers(topic) > 0) != followed:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
