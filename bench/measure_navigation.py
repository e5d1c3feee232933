"""Navigation: how fast a workspace page and a thread page open with a full sidebar.

A workspace of ``navigation_threads`` threads and ``navigation_people`` members, each thread
with a few messages of several people, every other one read by the reader up to its first:
every sidebar entry has an unread count to show. For each page: the server's time (the whole
page over HTTP from the bench's daphne) and the first contentful paint (headless Chromium,
from the start of navigation, the pages opened one after another in one tab as a person
following the sidebar's links does; beside them each page as a first visit in a fresh
browser context, and the login page's, what the browser itself costs here), p95 over
``navigation_opens`` loads; and the queries the page makes (Django's test
client in the bench process), which do not grow with the threads: the sidebar's unread counts
are one query, not one per thread.
"""

from datetime import timedelta
from typing import Any

from django.db import connection
from django.db.models import Min
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat.models import Message, Thread, ThreadRead
from workspace.models import Membership, Workspace

from .context import Bench
from .page_timing import first_paints_ms, server_times_ms
from .stats import percentile, r

MESSAGES_PER_THREAD = 4


def navigation_workspace_create(bench: Bench, *, threads: int, people: int) -> Workspace:
    """A workspace of ``threads`` threads, the most recently active first, among ``people``
    of the bench's members (the reader, ``members[1]``, among them)."""
    members = bench.world.members[:people]
    reader = bench.world.members[1]
    workspace = Workspace.objects.create(name="Navigation", created_by=members[0])
    Membership.objects.bulk_create([Membership(workspace=workspace, user=user) for user in members])
    now = timezone.now()
    made = Thread.objects.bulk_create(
        [
            Thread(
                workspace=workspace,
                title=f"Thread {n}: what the team talks about",
                created_by=members[n % people],
                last_activity_at=now - timedelta(minutes=n),
            )
            for n in range(threads)
        ]
    )
    Message.objects.bulk_create(
        [
            Message(thread=thread, author=members[(n + i) % people], body=f"Message {i} of {n}")
            for n, thread in enumerate(made)
            for i in range(MESSAGES_PER_THREAD)
        ]
    )
    first_of = (
        Message.objects.filter(thread__in=made[::2])
        .values("thread_id")
        .annotate(first=Min("id"))
        .values_list("thread_id", "first")
    )  # every other thread read up to its first message
    ThreadRead.objects.bulk_create(
        [ThreadRead(user=reader, thread_id=pk, last_read_message_id=m) for pk, m in first_of]
    )
    return workspace


def page_queries(path: str, *, reader: Any) -> int:
    """The queries of one load of the page at ``path``, as ``reader``."""
    client = Client(SERVER_NAME="localhost")
    client.force_login(reader)
    client.get(path)  # session and caches warm, as for a person who is logged in
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, f"{path}: {response.status_code}"
    return len(queries)


def measure(bench: Bench) -> dict[str, Any]:
    config = bench.config
    workspace = navigation_workspace_create(
        bench, threads=config.navigation_threads, people=config.navigation_people
    )
    newest = Thread.objects.filter(workspace=workspace).order_by("-last_activity_at").first()
    assert newest is not None
    paths = {"workspace": f"/w/{workspace.pk}/", "thread": f"/t/{newest.pk}/"}
    origin, cookie = bench.stack.origin(0), bench.world.cookies[1]
    urls = {name: origin + path for name, path in paths.items()}
    runs = config.navigation_opens
    login_url = f"{origin}/login/"  # what the browser itself costs here, beside them
    pages = [*urls.values(), login_url]
    paints = first_paints_ms(origin=origin, cookie=cookie, urls=pages, runs=runs, same_tab=True)
    first_visits = first_paints_ms(
        origin=origin, cookie=cookie, urls=pages, runs=runs, same_tab=False
    )
    reader = bench.world.members[1]
    server = {name: server_times_ms(url, cookie=cookie, runs=runs) for name, url in urls.items()}
    queries = {name: page_queries(path, reader=reader) for name, path in paths.items()}
    server_p95 = {name: percentile(took, 95) for name, took in server.items()}
    paint_p95 = {name: percentile(paints[url], 95) for name, url in urls.items()}
    return {
        "navigation_ms": {
            "threads": config.navigation_threads,
            "server_p95": r(max(server_p95.values())),
            "first_paint_p95": r(max(paint_p95.values())),
            "queries": max(queries.values()),
        },
        "navigation_details": {
            "people": config.navigation_people,
            "opens": runs,
            "login_page_first_paint_p95": r(percentile(paints[login_url], 95)),
            "login_page_first_visit_paint_p95": r(percentile(first_visits[login_url], 95)),
            **{
                name: {
                    "server_p50": r(percentile(server[name], 50)),
                    "server_p95": r(server_p95[name]),
                    "first_paint_p50": r(percentile(paints[urls[name]], 50)),
                    "first_paint_p95": r(paint_p95[name]),
                    "first_visit_paint_p50": r(percentile(first_visits[urls[name]], 50)),
                    "first_visit_paint_p95": r(percentile(first_visits[urls[name]], 95)),
                    "queries": queries[name],
                }
                for name in paths
            },
        },
    }
