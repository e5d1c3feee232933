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
import urllib.request
from typing import Any

from django.contrib.auth.models import User
from playwright.sync_api import sync_playwright
from websockets.sync.client import connect

from chat.models import Message, Thread
from chat.services import message_create
from harness.browser import CHROMIUM_ARGS, CHROMIUM_PATH

from .context import Bench
from .stats import r

FIRST_PAINT_JS = """() => new Promise((resolve) => {
  const found = () => performance.getEntriesByName("first-contentful-paint")[0];
  if (found()) return resolve(found().startTime);
  new PerformanceObserver(() => found() && resolve(found().startTime))
    .observe({type: "paint", buffered: true});
})"""


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
    origin = bench.stack.origin(0)
    name, value = bench.world.cookies[1].split("=", 1)
    thread_url, login_url = f"{origin}/t/{thread.pk}/", f"{origin}/login/"
    paints: dict[str, list[float]] = {thread_url: [], login_url: []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
        try:
            for _ in range(runs + 1):  # the first load warms the server's template caches
                for url, found in paints.items():
                    context = browser.new_context()
                    context.add_cookies([{"name": name, "value": value, "url": origin}])
                    page = context.new_page()
                    page.goto(url, wait_until="commit")
                    found.append(float(page.evaluate(FIRST_PAINT_JS)))
                    context.close()
        finally:
            browser.close()
    return {
        **_percentiles(paints[thread_url][1:]),
        "login_page_p50": r(statistics.median(paints[login_url][1:])),
        "server_p50": r(_server_ms(thread_url, cookie=bench.world.cookies[1], runs=runs)),
    }


def _percentiles(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)
    return {"p50": r(statistics.median(ordered)), "p95": r(ordered[round(0.95 * len(ordered)) - 1])}


def _server_ms(url: str, *, cookie: str, runs: int) -> float:
    """Median time for the whole thread page over HTTP: the server's share of opening it."""
    took = []
    for _ in range(runs):
        request = urllib.request.Request(url, headers={"Cookie": cookie})  # noqa: S310 - http://127.0.0.1
        started = time.monotonic()
        with urllib.request.urlopen(request) as response:  # noqa: S310 - the bench's own daphne
            response.read()
        took.append((time.monotonic() - started) * 1000)
    return statistics.median(took)


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
