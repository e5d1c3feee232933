"""Figure 6: database writes per generation, and stop latency (when stop exists).

Writes: ``assistant.answers.reply_generate`` runs in the bench process (the worker is idle) on the
long-answer prompt, inside Django's ``CaptureQueriesContext``; every INSERT/UPDATE/DELETE on
``chat_message`` counts. Target: at most 2 + one per second of generation. The constant
bookkeeping beside it (the thread's revision at the end, the Generation row) is reported too.

Stop latency: a long answer is mentioned over a socket; after a few frames the bench calls
``chat.replies.reply_stop`` (what the stop view calls); the latency is from that call to the
client receiving the reply's final status.
"""

import time
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

import chat.replies
from assistant.answers import reply_generate
from chat.models import Message
from chat.services import ANSWER_KIND
from jobs.services import job_create

from .context import Bench
from .measure_efficiency import ANSWER_TIMEOUT_S, LONG_QUESTION
from .stats import percentile, r

STOP_AFTER_FRAMES = 5


def measure_writes(bench: Bench) -> dict[str, Any]:
    world = bench.world
    thread = world.thread("db writes")
    question = Message.objects.create(thread=thread, author=world.asker, body=LONG_QUESTION)
    # Queued as assistant_reply_queue queues it, but its task is not sent: it runs here.
    reply = Message.objects.create(
        thread=thread,
        role=Message.Role.ASSISTANT,
        in_reply_to=question,
        requested_by=world.asker,
        status=Message.Status.QUEUED,
        job=job_create(
            kind=ANSWER_KIND, requested_by=world.asker, workspace_id=thread.workspace_id
        ),
    )
    started = time.monotonic()
    with CaptureQueriesContext(connection) as queries:
        reply_generate(reply_id=reply.pk)
    generation_s = time.monotonic() - started
    tables = [_written_table(q["sql"]) for q in queries.captured_queries]
    reply.refresh_from_db()
    return {
        "writes": tables.count("chat_message"),
        # Once per generation whatever its length: the thread's revision when the answer
        # ends, and the Generation row made at the start and completed at the end.
        "bookkeeping_writes": {
            table: tables.count(table) for table in ("chat_thread", "chat_generation")
        },
        # The answer's model job: started, its heartbeat with each save, ended.
        "job_writes": tables.count("jobs_modeljob"),
        "generation_s": r(generation_s, 2),
        "completion_tokens": reply.generation.completion_tokens,
        "frames": reply.last_seq,
        "limit": r(2 + generation_s, 1),
        "status": reply.status,
    }


def measure_stop(bench: Bench, *, reps: int) -> dict[str, Any] | None:
    """p50/p95 stop latency, or None when the app has no stop yet."""
    reply_stop = getattr(chat.replies, "reply_stop", None)
    if reply_stop is None or "stopped" not in Message.Status.values:
        return None
    world, pool = bench.world, bench.pool
    latencies: list[float] = []
    for _ in range(reps):
        thread = world.thread("stop")
        pool.call(0, "close_all")
        pool.call(
            0, "connect", urls=[bench.stack.ws_url(0, thread.pk)],
            cookies=[world.cookies[0]], count=1, parallel=1,
        )  # fmt: skip
        time.sleep(0.2)
        pool.call(0, "send", index=0, body=LONG_QUESTION)
        reply_id = pool.call(
            0, "wait_reply", index=0, min_frames=STOP_AFTER_FRAMES, timeout=ANSWER_TIMEOUT_S
        )
        if reply_id is None:
            continue
        asked_at = time.monotonic()
        reply_stop(reply=Message.objects.get(pk=reply_id), by=world.asker)
        status = pool.call(0, "wait_end", index=0, reply_id=reply_id, timeout=ANSWER_TIMEOUT_S)
        (events,) = pool.call(0, "collect", index=0, kinds=["status"])
        ended = [e[0] for e in events if e[2] == reply_id and e[3].endswith(f":{status}")]
        if status == "stopped" and ended:
            latencies.append((ended[0] - asked_at) * 1000)
    pool.call(0, "close_all")
    if not latencies:
        return None
    return {"p50": r(percentile(latencies, 50)), "p95": r(percentile(latencies, 95)),
            "samples": len(latencies)}  # fmt: skip


def _written_table(sql: str) -> str | None:
    """The table an INSERT, UPDATE or DELETE writes to; None for a read."""
    words = sql.replace('"', " ").split()
    verb = words[0].upper() if words else ""
    if verb == "UPDATE":
        return words[1]
    if verb in ("INSERT", "DELETE") and len(words) > 2:
        return words[2]  # INSERT INTO t, DELETE FROM t
    return None
