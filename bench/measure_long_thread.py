"""Long threads: how fast a thread of thousands of messages opens, and what a reconnect costs.

Open: headless Chromium, logged in as a member, loads the thread page; the figure is the time
from the start of navigation to the first contentful paint, by which the newest messages are
on screen (the page holds the newest page of messages, not the whole thread).

Reconnect: after ``new_events`` messages were posted, a socket connects the way the page does
on a reconnect (``?since=<the revision the page showed>``); the figure is the bytes and time
of what it is sent, next to those of a connect without ``since`` (the newest page).
"""

import statistics
import time
from typing import Any

from django.contrib.auth.models import User
from websockets.sync.client import connect

from chat.models import Message, Thread
from chat.services import message_create

from .context import Bench
from .page_timing import first_paints_ms, server_times_ms
from .stats import r


def long_thread_create(bench: Bench, *, messages: int) -> Thread:
    """A thread of ``messages`` people's messages, each a revision of its own."""
    world = bench.world
    thread = world.thread("A long thread")
    speakers = world.members[:4]
    Message.objects.bulk_create(
        [
            Message(
                thread=thread,
                author=speakers[n % len(speakers)],
                body=f"Message {n}: a line or two about the release, *as people write*.",
                revision=n + 1,
            )
            for n in range(messages)
        ],
        batch_size=1000,
    )
    Thread.objects.filter(pk=thread.pk).update(revision=messages)
    return thread


def measure_open(bench: Bench, thread: Thread, *, runs: int) -> dict[str, Any]:
    """First contentful paint of the thread page, in ms, over ``runs`` fresh loads; beside it,
    that of the login page (what the browser itself costs here) and the server's part."""
    origin, cookie = bench.stack.origin(0), bench.world.cookies[1]
    thread_url, login_url = f"{origin}/t/{thread.pk}/", f"{origin}/login/"
    paints = first_paints_ms(
        origin=origin, cookie=cookie, urls=[thread_url, login_url], runs=runs, same_tab=False
    )
    return {
        **_percentiles(paints[thread_url]),
        "login_page_p50": r(statistics.median(paints[login_url])),
        "server_p50": r(statistics.median(server_times_ms(thread_url, cookie=cookie, runs=runs))),
    }


def _percentiles(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)
    return {"p50": r(statistics.median(ordered)), "p95": r(ordered[round(0.95 * len(ordered)) - 1])}


def _first_fragment(bench: Bench, thread: Thread, query: str) -> tuple[int, float]:
    """Bytes and milliseconds of the first thing a socket is sent after it opens."""
    started = time.monotonic()
    with connect(
        bench.stack.ws_url(0, thread.pk) + query,
        additional_headers={"Cookie": bench.world.cookies[1], "Origin": bench.stack.origin(0)},
        max_size=None,
    ) as socket:
        sent = socket.recv()
    return len(sent.encode() if isinstance(sent, str) else sent), (time.monotonic() - started)


def measure_reconnect(bench: Bench, thread: Thread, *, new_events: int) -> dict[str, Any]:
    seen = Thread.objects.get(pk=thread.pk).revision
    asker: User = bench.world.asker
    for n in range(new_events):
        message_create(thread=thread, author=asker, body=f"Posted while you were away ({n})")
    caught_up_bytes, caught_up_s = _first_fragment(bench, thread, f"?since={seen}")
    page_bytes, page_s = _first_fragment(bench, thread, "")
    return {
        "messages_in_thread": Message.objects.filter(thread=thread).count(),
        "new_events": new_events,
        "bytes_sent": caught_up_bytes,
        "ms": r(caught_up_s * 1000),
        "newest_page_bytes": page_bytes,
        "newest_page_ms": r(page_s * 1000),
    }


def measure(bench: Bench) -> dict[str, Any]:
    config = bench.config
    thread = long_thread_create(bench, messages=config.long_thread_messages)
    opened = measure_open(bench, thread, runs=config.long_thread_opens)
    return {
        "long_thread_open_ms": {"messages": config.long_thread_messages, **opened},
        "reconnect_catch_up": measure_reconnect(
            bench, thread, new_events=config.reconnect_new_events
        ),
    }
