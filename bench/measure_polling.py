"""Baseline: clients polling the thread page every 250 ms instead of holding a socket.

One member mentions the assistant over a socket (the WebSocket path, for reference) while
``pollers`` members GET ``/t/<id>/`` every 250 ms with their session cookie and read the reply's
``data-seq`` (the last frame saved in the database) from the page. For each frame the socket
received, a poller's delay is the time from the socket receiving it to that poller's first page
showing it (or a later one).
"""

import time
from typing import Any

from chat.models import Message

from .context import Bench
from .measure_efficiency import ANSWER_TIMEOUT_S, LONG_QUESTION
from .reference import decode_rate
from .stats import r, summary_ms

POLL_INTERVAL_S = 0.25


def measure(bench: Bench, *, plain_tokens_per_s: float) -> dict[str, Any]:
    config, pool, stack, world = bench.config, bench.pool, bench.stack, bench.world
    thread = world.thread("polling")
    pool.close_all()
    pool.call(
        0, "connect", urls=[stack.ws_url(0, thread.pk)],
        cookies=[world.cookies[0]], count=1, parallel=1,
    )  # fmt: skip
    time.sleep(0.2)
    pool.call(0, "send", index=0, body=LONG_QUESTION)
    reply_id = pool.call(0, "wait_reply", index=0, min_frames=0, timeout=ANSWER_TIMEOUT_S)
    if reply_id is None:
        raise RuntimeError("no assistant reply was announced")
    started = time.monotonic()
    polls = pool.call(
        len(pool) - 1, "poll", host="127.0.0.1", port=stack.ports[0],
        cookies=world.cookies[1:] or world.cookies, path=f"/t/{thread.pk}/",
        message_id=reply_id, pollers=config.pollers, interval=POLL_INTERVAL_S,
        timeout=ANSWER_TIMEOUT_S,
    )  # fmt: skip
    polling_s = time.monotonic() - started
    pool.call(0, "wait_end", index=0, reply_id=reply_id, timeout=ANSWER_TIMEOUT_S)
    (events,) = pool.call(0, "collect", index=0, kinds=["frame"])
    pool.close_all()
    frames = {e[3]: e[0] for e in events if e[2] == reply_id}
    delays: list[float] = []
    for seen in polls:
        for seq, received_at in frames.items():
            later = [t for t, page_seq, _ in seen if page_seq >= seq and t >= received_at]
            if later:
                delays.append(later[0] - received_at)
    requests = sum(len(seen) for seen in polls)
    reply = Message.objects.get(pk=reply_id)
    ordered = sorted(frames.values())
    tokens = reply.generation.completion_tokens or 0
    ws_rate = decode_rate(tokens, ordered[0], ordered[-1]) if ordered else 0
    summary = summary_ms(delays)
    return {
        "pollers": config.pollers,
        "interval_ms": POLL_INTERVAL_S * 1000,
        "requests": requests,
        "requests_per_s": r(requests / polling_s if polling_s else 0.0),
        "delay_vs_websocket_ms": summary,
        "frames_on_socket": len(frames),
        "distinct_states_seen_by_a_poller": r(
            sum(len({seq for _, seq, _ in seen}) for seen in polls) / max(len(polls), 1)
        ),
        "completion_tokens": reply.generation.completion_tokens,
        "efficiency_while_polled": r(ws_rate / plain_tokens_per_s if plain_tokens_per_s else 0, 3),
    }
