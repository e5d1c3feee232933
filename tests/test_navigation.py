"""The sidebar: a person's workspaces, the current one's threads by last activity and its
documents, kept current over the workspace's socket."""

import re
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat.models import Thread
from chat.panels import THREADS_PER_PAGE
from chat.replies import reply_stop
from chat.services import message_create, thread_create, thread_read_mark
from config.asgi import application
from documents.services import document_create
from harness.ws_client import session_cookie
from realtime.consumers import CLOSE_NOT_FOUND

from .factories import (
    MembershipFactory,
    MessageFactory,
    NotificationFactory,
    ThreadFactory,
    assistant_reply,
)

HOST = (b"host", b"localhost")
ORIGIN = (b"origin", b"http://localhost")


def _nav_titles(html: str) -> list[str]:
    threads = html.split('id="nav-threads"', 1)[1].split("</ul>", 1)[0]
    return re.findall(r'<li id="nav-thread-\d+"><a [^>]*><span class="nav-title">([^<]*)<', threads)


def _active(thread: Thread, minutes_ago: int) -> None:
    Thread.objects.filter(pk=thread.pk).update(
        last_activity_at=timezone.now() - timedelta(minutes=minutes_ago)
    )


@pytest.mark.django_db
def test_the_sidebar_lists_the_threads_most_recently_active_first(client, team):
    older = ThreadFactory.create(workspace=team.workspace, title="Older")
    _active(team.thread, minutes_ago=30)
    _active(older, minutes_ago=60)
    message_create(thread=older, author=team.member, body="Back to this one")
    client.force_login(team.owner)

    page = client.get(f"/w/{team.workspace.pk}/").content.decode()

    assert _nav_titles(page) == ["Older", "Release planning"]


@pytest.mark.django_db
def test_the_sidebar_marks_the_open_thread_and_lists_workspaces_and_documents(client, team):
    other = MembershipFactory.create(user=team.owner).workspace
    document_create(workspace=team.workspace, title="Launch <plan>", created_by=team.owner)
    client.force_login(team.owner)

    page = client.get(f"/t/{team.thread.pk}/").content.decode()

    sidebar = page.split('<nav id="sidebar"', 1)[1].split("</nav>", 1)[0]
    assert f'href="/w/{other.pk}/"' in sidebar
    assert "Launch &lt;plan&gt;" in sidebar
    assert (
        f'<li id="nav-thread-{team.thread.pk}"><a href="/t/{team.thread.pk}/" '
        'aria-current="page"><span class="nav-title">Release planning</span>'
    ) in sidebar


@pytest.mark.django_db
def test_the_sidebar_costs_the_same_few_queries_however_many_threads(
    rf, team, django_assert_max_num_queries
):
    for number in range(40):
        thread = ThreadFactory.create(workspace=team.workspace, title=f"Thread {number}")
        MessageFactory.create(thread=thread, author=team.member)
    for number in range(10):
        document_create(workspace=team.workspace, title=f"Doc {number}", created_by=team.owner)
    template = Template("{% load navigation %}{% sidebar %}")
    context = Context({"user": team.owner, "workspace": team.workspace, "request": rf.get("/")})

    with django_assert_max_num_queries(3):  # workspaces, threads, documents
        html = template.render(context)

    assert len(_nav_titles(html)) == 41


@pytest.mark.django_db
def test_the_workspace_page_lists_its_threads_a_page_at_a_time_and_the_sidebar_all_of_them(
    client, team
):
    for number in range(THREADS_PER_PAGE):  # with the team's own, one more than a page
        _active(ThreadFactory.create(workspace=team.workspace, title=f"Thread {number}"), number)
    _active(team.thread, minutes_ago=THREADS_PER_PAGE)
    client.force_login(team.owner)
    path = f"/w/{team.workspace.pk}/"

    first = client.get(path).content.decode()
    second = client.get(path, {"page": 2}).content.decode()

    assert len(_nav_titles(first)) == THREADS_PER_PAGE + 1
    assert _listed_titles(first) == [f"Thread {n}" for n in range(THREADS_PER_PAGE)]
    assert 'href="?page=2">Older' in first
    assert f"1–{THREADS_PER_PAGE} of {THREADS_PER_PAGE + 1}" in first
    assert _listed_titles(second) == ["Release planning"]
    assert 'href="?page=1">' in second
    assert _listed_titles(client.get(path, {"page": "nonsense"}).content.decode())[0] == "Thread 0"


def _listed_titles(html: str) -> list[str]:
    threads = html.split('<ul class="threads">', 1)[1].split("</ul>", 1)[0]
    return re.findall(r'<a href="/t/\d+/">([^<]*)</a>', threads)


def _threads_half_read(team, count: int) -> None:
    """``count`` threads of bob's, each with one message alice has read and one she has not."""
    for number in range(count):
        thread = ThreadFactory.create(workspace=team.workspace, title=f"Thread {number}")
        read = MessageFactory.create(thread=thread, author=team.member)
        MessageFactory.create(thread=thread, author=team.member)
        thread_read_mark(thread=thread, reader=team.owner, message_id=read.pk)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("page", "reads_of_unread_state"),
    [("workspace", 1), ("thread", 2)],  # the thread's: also where its "New messages" line goes
)
def test_a_page_reads_unread_state_in_one_query_however_many_threads(
    client, team, django_assert_max_num_queries, page, reads_of_unread_state
):
    path = f"/w/{team.workspace.pk}/" if page == "workspace" else f"/t/{team.thread.pk}/"
    client.force_login(team.owner)
    _threads_half_read(team, 2)
    client.get(path)  # the session and caches as a person's next page finds them
    with CaptureQueriesContext(connection) as few:
        client.get(path)
    queries_with_few_threads = len(few)  # read now: the context is a window on a shared log
    _threads_half_read(team, 60)
    client.get(path)

    with django_assert_max_num_queries(queries_with_few_threads) as many:
        assert client.get(path).status_code == 200

    unread_state = [q["sql"] for q in many.captured_queries if "chat_threadread" in q["sql"]]
    counts = [sql for sql in unread_state if "COUNT(" in sql]
    assert len(unread_state) == reads_of_unread_state
    assert len(counts) == 1  # every thread's unread count, for the sidebar (and the list)


@pytest.mark.django_db
def test_a_workspace_the_person_is_not_in_shows_nothing_of_its_threads(team):
    template = Template("{% load navigation %}{% sidebar %}")

    html = template.render(Context({"user": team.outsider, "workspace": team.workspace}))

    assert "Release planning" not in html
    assert "nav-threads" not in html


@pytest.mark.django_db
def test_posting_makes_the_thread_the_most_recently_active(team):
    _active(team.thread, minutes_ago=60)

    message = message_create(thread=team.thread, author=team.member, body="Any news?")

    team.thread.refresh_from_db()
    assert team.thread.last_activity_at == message.created_at


@pytest.mark.django_db
def test_an_answer_that_ends_makes_the_thread_the_most_recently_active(team):
    reply = assistant_reply(thread=team.thread, asker=team.owner)
    _active(team.thread, minutes_ago=60)

    reply_stop(reply=reply, by=team.member)

    team.thread.refresh_from_db()
    reply.refresh_from_db()
    assert team.thread.last_activity_at == reply.finished_at


@pytest.fixture
def cookies(team) -> dict[str, tuple[bytes, bytes]]:
    people = {"alice": team.owner, "bob": team.member, "mallory": team.outsider}
    return {name: (b"cookie", session_cookie(user).encode()) for name, user in people.items()}


def _workspace_socket(workspace_id: int, cookie: tuple[bytes, bytes]) -> WebsocketCommunicator:
    return WebsocketCommunicator(
        application, f"/ws/workspaces/{workspace_id}/", headers=[HOST, ORIGIN, cookie]
    )


@pytest.mark.django_db(transaction=True)
async def test_a_new_thread_and_a_new_message_reach_the_sidebars_of_the_workspace(team, cookies):
    socket = _workspace_socket(team.workspace.pk, cookies["alice"])
    connected, _ = await socket.connect()
    assert connected
    first = await socket.receive_from(timeout=5)
    assert first.startswith('<ul id="nav-threads"')
    assert "data-live" in first  # the list as it is now, to catch up

    started = await database_sync_to_async(thread_create)(
        workspace=team.workspace, title="<b>Launch</b>", created_by=team.member
    )
    added = await socket.receive_from(timeout=5)
    await database_sync_to_async(message_create)(
        thread=team.thread, author=team.member, body="Moving up"
    )
    moved = await socket.receive_from(timeout=5)
    await socket.disconnect()

    assert added.startswith(
        '<div hx-swap-oob="afterbegin:#nav-threads">'
        f'<li id="nav-thread-{started.pk}"><a href="/t/{started.pk}/">'
        '<span class="nav-title">&lt;b&gt;Launch&lt;/b&gt;</span>'
    )
    assert f'<li id="nav-thread-{team.thread.pk}">' in moved
    assert moved.startswith('<div hx-swap-oob="afterbegin:#nav-threads">')


@pytest.mark.django_db(transaction=True)
async def test_only_members_follow_a_workspace(team, cookies):
    socket = _workspace_socket(team.workspace.pk, cookies["mallory"])
    connected, _ = await socket.connect()
    assert connected
    output = await socket.receive_output(timeout=5)
    await socket.disconnect()

    assert output == {"type": "websocket.close", "code": CLOSE_NOT_FOUND}


@pytest.mark.django_db
def test_the_inbox_bell_counts_its_unread_notifications_once_a_page(client, team):
    NotificationFactory.create(recipient=team.owner, workspace=team.workspace)
    client.force_login(team.owner)

    with CaptureQueriesContext(connection) as page:
        response = client.get(f"/w/{team.workspace.pk}/")

    counts = [q["sql"] for q in page.captured_queries if "notifications_notification" in q["sql"]]
    assert len(counts) == 1
    assert 'data-count="1"' in response.content.decode()
