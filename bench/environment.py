"""The benchmark's own database, Redis and model settings, set up before Django is.

- Database: a fresh SQLite file ``var/bench.sqlite3``; or, when ``DATABASE_URL`` is set, a
  dedicated ``roundtable_bench`` database on that server (dropped and created each run).
- Redis: the embedded server on its own socket ``var/bench-redis.sock``; or, when ``REDIS_URL``
  is set, database 9 on that server (flushed first), never the app's or the tests' database.
- Model settings shared by the worker and the plain llama-cpp-python reference: temperature 0,
  the same context, threads, repeat penalty and token limit, so both generate the same tokens.
"""

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
SQLITE_PATH = VAR / "bench.sqlite3"
REDIS_SOCKET = VAR / "bench-redis.sock"
BENCH_DB_NAME = "roundtable_bench"
BENCH_REDIS_DB = 9

# Same for the worker (environment) and the reference (read back from settings).
MODEL_ENV = {
    "LLM_TEMPERATURE": "0",
    "LLM_REPEAT_PENALTY": "1.0",  # 1.0 lets the long-answer prompt run past 1,000 tokens
    "LLM_N_CTX": "4096",  # room for a 1,000-token prompt plus a 1,100-token answer
    "LLM_N_THREADS": "2",
    "LLM_MAX_TOKENS": "1100",
}


@dataclass
class BenchEnvironment:
    database: str  # "sqlite" or "postgresql"
    redis: str  # "embedded" or the URL used
    redis_process: subprocess.Popen[bytes] | None

    def close(self) -> None:
        if self.redis_process is not None:
            self.redis_stop()

    def redis_stop(self) -> None:
        """Stop the bench's own (embedded) Redis, losing all it held, as a crash would. A
        server named by REDIS_URL is never stopped: others may use it."""
        if self.redis_process is None:
            raise RuntimeError("only the bench's embedded Redis can be stopped")
        self.redis_process.terminate()
        self.redis_process.wait(timeout=10)

    def redis_start(self) -> None:
        """Start the embedded Redis again at the same socket (after ``redis_stop``)."""
        from config.embedded_redis import start

        self.redis_process = start(REDIS_SOCKET)


def prepare(*, max_tokens: int | None = None, model_threads: int | None = None) -> BenchEnvironment:
    """Point this process (and the servers it starts) at the bench database and Redis."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["CHANNELS_PREFIX"] = "roundtable-bench"
    os.environ.update(MODEL_ENV)
    if max_tokens is not None:
        os.environ["LLM_MAX_TOKENS"] = str(max_tokens)
    if model_threads is not None:
        os.environ["LLM_N_THREADS"] = str(model_threads)
    database = _prepare_database()
    redis_url, process = _prepare_redis()
    os.environ["REDIS_URL"] = redis_url
    return BenchEnvironment(
        database=database, redis="embedded" if process else redis_url, redis_process=process
    )


def _prepare_database() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{SQLITE_PATH}{suffix}").unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{SQLITE_PATH}"
        return "sqlite"
    import psycopg

    parts = urlsplit(url)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB_NAME}"')
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{BENCH_DB_NAME}"))
    return "postgresql"


def bench_redis_url(url: str) -> str:
    """The same server, database 9: never the app's (0) or the tests' database."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = dict(parse_qsl(parts.query))
        query["db"] = str(BENCH_REDIS_DB)
        return urlunsplit(parts._replace(query=urlencode(query)))
    return urlunsplit(parts._replace(path=f"/{BENCH_REDIS_DB}"))


def _prepare_redis() -> tuple[str, subprocess.Popen[bytes] | None]:
    import redis

    url = os.environ.get("REDIS_URL")
    if url:
        bench_url = bench_redis_url(url)
        redis.Redis.from_url(bench_url).flushdb()
        return bench_url, None
    from config.embedded_redis import start

    process = start(REDIS_SOCKET)
    return f"unix://{REDIS_SOCKET}", process
