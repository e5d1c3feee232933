"""Figure 4: human chat latency, from one member sending to every member receiving.

``members`` people hold one socket each on a thread; messages (no mention, so no model) are
sent at a steady rate by the members in turn, through the real path: socket -> consumer ->
database write -> on commit, group_send -> every consumer -> every socket. Sender and receivers
are clients in the same few processes, so both times come from one clock.
"""

import time
from typing import Any

from .clients import split
from .context import Bench
from .measure_fanout import connect, wait_ready
from .stats import summary_ms

BODY = "chatping-{k}- quick update {k}: the build is green and the demo is at three."


def measure(bench: Bench) -> dict[str, Any]:
    config, pool = bench.config, bench.pool
    members = min(config.chat_members, len(bench.world.members))
    thread = bench.world.thread("chat latency")
    pool.close_all()
    opened = connect(bench, thread, clients=members, replicas=1)
    ready = wait_ready(bench, thread, opened["open"])
    shares = split(members, len(pool))
    schedules: list[list[tuple[int, float, str]]] = [[] for _ in shares]
    starts = time.monotonic() + 0.5
    for k in range(config.chat_messages):
        sender = k % members
        child = next(i for i in range(len(shares)) if sender < sum(shares[: i + 1]))
        local = sender - sum(shares[:child])
        schedules[child].append((local, starts + k / config.chat_rate_hz, BODY.format(k=k)))
    sent_lists = pool.call_all("chat", [{"schedule": s} for s in schedules])
    sent: dict[int, float] = {}
    for schedule, times in zip(schedules, sent_lists, strict=True):
        for (_, _, body), at in zip(schedule, times, strict=True):
            sent[int(body.split("-")[1])] = at
    deadline = time.monotonic() + 30
    while True:
        sockets = pool.events(kinds=["ping"])
        got = sum(len(s) for s in sockets)
        if got >= members * config.chat_messages or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    pool.close_all()
    latencies = [e[0] - sent[e[2]] for s in sockets for e in s if e[2] in sent]
    summary = summary_ms(latencies)
    return {
        "members": members,
        "p50": summary["p50"],
        "p99": summary["p99"],
        "max": summary["max"],
        "messages": config.chat_messages,
        "rate_per_s": config.chat_rate_hz,
        "deliveries": len(latencies),
        "deliveries_expected": members * config.chat_messages,
        "connected": opened["open"],
        "ready": ready,
    }
