"""Outages: Redis, then PostgreSQL, away for ``outage_s`` (10 s) while pages are open and
answers stream.

``PAGES`` thread pages (sockets read as the page reads them, across both daphne replicas) are
live when the asker's question starts streaming; the service is then stopped. Halfway through,
every page types a message and presses Enter: a page that is not live keeps it and sends it
once live again, one the server refuses (the database away) keeps it and its person sends it
again after the outage (``bench.clients``). Measured from the moment the service is back:

- ``live_again_s``: until every page that was told "reconnecting" says "live" again (0 when
  no page left "live": the sockets stayed open and events flowed).
- ``answer_ended`` and ``answer_shown_s``: how the answer ended (``done`` or ``interrupted``,
  never still streaming) and when every page showed its end.
- ``typed``, ``lost``, ``duplicates``: the pages' messages against the rows stored.
- ``served_after``: how a new question, asked on the same processes, ended; and
  ``processes_restarted``, how many of them had to be (none may).

Redis can be stopped only when it is the bench's own (embedded) server, PostgreSQL only when
the bench runs on it; otherwise that outage is reported as skipped, with the reason.
"""

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from chat.models import Message
from harness.outages import database_away

from .context import Bench
from .environment import BenchEnvironment
from .stats import r

PAGES = 20
WAIT_S = 600.0  # an answer of up to LLM_MAX_TOKENS, on a loaded machine
ENDED = ("done", "interrupted", "failed", "stopped")
QUESTION = "@assistant write a detailed essay of at least 500 words about release planning."
AFTER_QUESTION = "@assistant say hello in five words."


def measure(bench: Bench, environment: BenchEnvironment) -> dict[str, Any]:
    bench.progress("outages: Redis, then PostgreSQL, away while pages are open")
    bench.stack.start_worker()
    redis: dict[str, Any]
    if environment.redis_process is None:
        redis = {"skipped": "REDIS_URL names a server others may use: it is not stopped"}
    else:
        redis = _outage(bench, "redis", _redis_away(environment))
    postgres: dict[str, Any]
    if environment.database != "postgresql":
        postgres = {"skipped": "SQLite: a file cannot go away (set DATABASE_URL to measure it)"}
    else:
        postgres = _outage(bench, "postgres", database_away())
    return {
        "outages": {"redis_10s": redis, "postgres_10s": postgres},
        "outages_details": {
            "database": environment.database,
            "redis": environment.redis,
            "replicas": len(bench.stack.ports),
        },
    }


@contextmanager
def _redis_away(environment: BenchEnvironment) -> Iterator[None]:
    environment.redis_stop()
    try:
        yield
    finally:
        environment.redis_start()


def _outage(bench: Bench, name: str, away: AbstractContextManager[None]) -> dict[str, Any]:
    pool, stack, world = bench.pool, bench.stack, bench.world
    thread = world.thread(f"Outage: {name}")
    urls = [stack.ws_url(replica, thread.pk) for replica in range(len(stack.ports))]
    opened = pool.connect(urls, world.cookies[:PAGES], PAGES)
    assert opened["open"] == PAGES, opened
    _until(lambda: "" if _all_live(pool.events(kinds=("badge",))) else "a page is not live")
    assert stack.worker is not None
    processes = [*stack.webs, stack.worker]

    pool.call(0, "send", index=0, body=QUESTION)  # child 0's first page: the asker's
    reply_id = pool.call(0, "wait_reply", index=0, min_frames=3, timeout=WAIT_S)
    assert reply_id is not None, "the answer did not start"
    outage_s = bench.config.outage_s
    bench.progress(f"   {name} away for {outage_s:.0f} s, answer {reply_id} streaming")
    with away:
        time.sleep(outage_s / 2)  # the outage itself lasts outage_s: that is the scenario
        prefix = f"outage-{name}"
        typed = sum(
            pool.call_all("type_all", [{"prefix": f"{prefix}-{c}"} for c in range(len(pool))])
        )
        time.sleep(outage_s / 2)
    back_at = time.monotonic()
    bench.progress(f"   {name} back")

    def caught_up() -> str:
        """What is still missing ("" when nothing is)."""
        kept = sum(pool.call_all("send_kept"))  # a refused message: its person sends it again
        events = pool.events(kinds=("badge", "status"))
        live = sum(_all_live([page]) for page in events)
        shown = sum(_shown_ended(page, reply_id) is not None for page in events)
        if kept or live < PAGES or shown < PAGES:
            status, seq = Message.objects.values_list("status", "last_seq").get(pk=reply_id)
            return (
                f"{kept} composers hold a message, {live} pages live, {shown} show the answer "
                f"ended (it is {status} at frame {seq})"
            )
        return ""

    _until(caught_up, every_s=0.5)
    events = pool.events(kinds=("badge", "status"))
    reply = Message.objects.get(pk=reply_id)
    stored = list(
        Message.objects.filter(thread=thread, body__startswith=prefix).values_list(
            "body", flat=True
        )
    )
    served_after = _asked_again(bench)
    pool.close_all()
    left = [page for page in events if _left_live(page)]
    shown_at = [_shown_ended(page, reply_id) or back_at for page in events]
    return {
        "pages": PAGES,
        "outage_s": outage_s,
        "told_reconnecting": len(left),
        "live_again_s": r(max(_live_again(page) for page in left) - back_at) if left else 0.0,
        "answer_ended": reply.status,
        "answer_shown_s": r(max(shown_at) - back_at),
        "typed": typed,
        "lost": typed - len(set(stored)),
        "duplicates": len(stored) - len(set(stored)),
        "served_after": served_after,
        "processes_restarted": sum(process.poll() is not None for process in processes),
    }


def _asked_again(bench: Bench) -> str | None:
    """A new question on the same processes: how its answer ended (None: it did not)."""
    pool = bench.pool
    pool.call(0, "clear")
    pool.call(0, "send", index=0, body=AFTER_QUESTION)
    reply_id = pool.call(0, "wait_reply", index=0, min_frames=1, timeout=WAIT_S)
    if reply_id is None:
        return None
    ended: str | None = pool.call(0, "wait_end", index=0, reply_id=reply_id, timeout=WAIT_S)
    return ended


def _all_live(pages: list[list[Any]]) -> bool:
    """Every page's newest badge says "live"."""
    return all(badges and badges[-1][3] == "live" for badges in _badges(pages))


def _badges(pages: list[list[Any]]) -> list[list[Any]]:
    return [[event for event in page if event[1] == "badge"] for page in pages]


def _left_live(page: list[Any]) -> bool:
    return any(event[1] == "badge" and event[3] != "live" for event in page)


def _live_again(page: list[Any]) -> float:
    """When the page said "live" after it last said it was not."""
    badges = [event for event in page if event[1] == "badge"]
    last_away = max(i for i, event in enumerate(badges) if event[3] != "live")
    return float(badges[last_away + 1][0])


def _shown_ended(page: list[Any], reply_id: int) -> float | None:
    """When the page first showed the answer ended."""
    return next(
        (
            event[0]
            for event in page
            if event[1] == "status" and event[2] == reply_id and event[3].split(":")[1] in ENDED
        ),
        None,
    )


def _until(missing: Callable[[], str], *, every_s: float = 0.2) -> None:
    """Wait until ``missing()`` says nothing is; fail after WAIT_S saying what still was."""
    deadline = time.monotonic() + WAIT_S
    while still := missing():
        if time.monotonic() > deadline:
            raise TimeoutError(f"after {WAIT_S:.0f} s: {still}")
        time.sleep(every_s)
