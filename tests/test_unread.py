"""Unread messages: how far each person has read each thread, kept on the server, counted in
one query for a whole workspace, and shown live on all of that person's pages."""

import re

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.exceptions import ValidationError
from django.utils import timezone

from chat.models import Message, ThreadRead
from chat.replies import reply_stop
from chat.selectors import thread_list_with_unread
from chat.services import message_create, thread_read_mark
from config.asgi import application
from harness.ws_client import session_cookie

from .factories import (
    AssistantFactory,
    LanguageModelFactory,
    MessageFactory,
    ThreadFactory,
    assistant_reply,
)

pytestmark = pytest.mark.services

HOST = (b"host", b"localhost")
ORIGIN = (b"origin", b"http://localhost")


def _unread(team, reader) -> dict[str, int]:
    threads = thread_list_with_unread(workspace=team.workspace, reader=reader)
    return {thread.title: thread.unread for thread in threads}


@pytest.mark.django_db
def test_other_peoples_messages_after_the_last_one_read_are_unread(team):
    first = MessageFactory.create(thread=team.thread, author=team.member, body="One")
    MessageFactory.create(thread=team.thread, author=team.member, body="Two")
    MessageFactory.create(thread=team.thread, author=team.owner, body="Mine")
    MessageFactory.create(
        thread=team.thread, author=team.member, body="", deleted_at=timezone.now()
    )

    assert _unread(team, team.owner) == {"Release planning": 2}
    thread_read_mark(thread=team.thread, reader=team.owner, message_id=first.pk)
    assert _unread(team, team.owner) == {"Release planning": 1}
    assert _unread(team, team.member) == {"Release planning": 1}  # alice's, never read


@pytest.mark.django_db
def test_an_answer_is_unread_once_it_has_ended_not_while_it_is_written(team):
    reply = assistant_reply(thread=team.thread, asker=team.owner)
    assert _unread(team, team.owner) == {"Release planning": 0}  # queued: nothing to read
    assert _unread(team, team.member) == {"Release planning": 1}  # alice's question

    reply_stop(reply=reply, by=team.member)

    assert _unread(team, team.owner) == {"Release planning": 1}  # asked for, and ended
    assert _unread(team, team.member) == {"Release planning": 2}


@pytest.mark.django_db
def test_an_answer_that_fails_at_once_is_activity_and_unread_at_once(team):
    AssistantFactory.create(
        workspace=team.workspace,
        handle="scribe",
        model=LanguageModelFactory.create(name="Off", enabled=False),
    )

    message_create(thread=team.thread, author=team.owner, body="@scribe hi")

    failed = Message.objects.get(role=Message.Role.ASSISTANT, status=Message.Status.FAILED)
    team.thread.refresh_from_db()
    assert team.thread.last_activity_at >= failed.finished_at  # it moved the thread up too
    assert _unread(team, team.owner) == {"Release planning": 1}  # its failure, saying why


@pytest.mark.django_db
def test_reading_only_moves_forward(team):
    older, newer = (MessageFactory.create(thread=team.thread) for _ in range(2))

    thread_read_mark(thread=team.thread, reader=team.owner, message_id=newer.pk)
    thread_read_mark(thread=team.thread, reader=team.owner, message_id=older.pk)

    assert ThreadRead.objects.get(user=team.owner).last_read_message_id == newer.pk


@pytest.mark.django_db
def test_a_message_of_another_thread_cannot_be_marked_read(team):
    elsewhere = MessageFactory.create()

    with pytest.raises(ValidationError):
        thread_read_mark(thread=team.thread, reader=team.owner, message_id=elsewhere.pk)

    assert not ThreadRead.objects.exists()


@pytest.mark.django_db
def test_unread_counts_of_a_whole_workspace_take_one_query(team, django_assert_num_queries):
    for number in range(30):
        thread = ThreadFactory.create(workspace=team.workspace, title=f"Thread {number}")
        read = MessageFactory.create(thread=thread, author=team.member)
        MessageFactory.create(thread=thread, author=team.member)
        if number % 2:
            thread_read_mark(thread=thread, reader=team.owner, message_id=read.pk)

    with django_assert_num_queries(1):
        counts = _unread(team, team.owner)

    assert sorted(counts.values()) == [0] + [1] * 15 + [2] * 15


@pytest.mark.django_db
def test_the_read_endpoint_is_for_members_and_messages_of_the_thread(client, team):
    message = MessageFactory.create(thread=team.thread, author=team.member)
    url = f"/t/{team.thread.pk}/read/"

    client.force_login(team.outsider)
    assert client.post(url, {"message": message.pk}).status_code == 404
    client.force_login(team.owner)
    assert client.post(url, {"message": "many"}).status_code == 400
    assert client.post(url, {"message": MessageFactory.create().pk}).status_code == 400
    assert client.post(url, {"message": message.pk}).status_code == 204

    assert _unread(team, team.owner) == {"Release planning": 0}


@pytest.mark.django_db
def test_the_thread_shows_a_line_before_the_first_message_not_read(client, team):
    read = MessageFactory.create(thread=team.thread, author=team.member, body="Seen")
    MessageFactory.create(thread=team.thread, author=team.owner, body="Mine, after")
    first_unread = MessageFactory.create(thread=team.thread, author=team.member, body="New")
    thread_read_mark(thread=team.thread, reader=team.owner, message_id=read.pk)
    client.force_login(team.owner)

    page = client.get(f"/t/{team.thread.pk}/").content.decode()

    divider = page.index('id="unread-divider"')
    assert page.index("Mine, after") < divider < page.index(f'id="message-{first_unread.pk}"')


@pytest.mark.django_db
def test_the_workspace_page_lists_each_threads_unread_count(client, team):
    MessageFactory.create_batch(3, thread=team.thread, author=team.member)
    client.force_login(team.owner)

    page = client.get(f"/w/{team.workspace.pk}/").content.decode()

    counts = re.findall(rf'data-unread-for="{team.thread.pk}" data-count="(\d+)"', page)
    assert counts == ["3", "3"]  # in the sidebar and in the list


@pytest.fixture
def cookies(team) -> dict[str, tuple[bytes, bytes]]:
    return {
        "alice": (b"cookie", session_cookie(team.owner).encode()),
        "bob": (b"cookie", session_cookie(team.member).encode()),
    }


@pytest.mark.django_db(transaction=True)
async def test_counts_rise_live_as_others_post_and_fall_when_read_elsewhere(team, cookies):
    socket = WebsocketCommunicator(
        application,
        f"/ws/workspaces/{team.workspace.pk}/",
        headers=[HOST, ORIGIN, cookies["alice"]],
    )
    assert (await socket.connect())[0]
    await socket.receive_from(timeout=5)  # the list, as it was
    badge = f'data-unread-for="{team.thread.pk}" data-count="{{}}"'

    await database_sync_to_async(message_create)(thread=team.thread, author=team.member, body="One")
    assert badge.format(1) in await socket.receive_from(timeout=5)
    second = await database_sync_to_async(message_create)(
        thread=team.thread, author=team.member, body="Two"
    )
    assert badge.format(2) in await socket.receive_from(timeout=5)
    await database_sync_to_async(message_create)(
        thread=team.thread, author=team.owner, body="My own"
    )
    assert badge.format(2) in await socket.receive_from(timeout=5)

    await database_sync_to_async(thread_read_mark)(
        thread=team.thread, reader=team.owner, message_id=second.pk
    )
    read_elsewhere = await socket.receive_from(timeout=5)
    await socket.disconnect()

    assert read_elsewhere.startswith(f'<span class="unread" {badge.format(0)}')


@pytest.mark.django_db(transaction=True)
async def test_an_answer_that_ends_counts_live_though_it_was_queued_when_the_list_was_read(
    team, cookies
):
    reply = await database_sync_to_async(assistant_reply)(thread=team.thread, asker=team.owner)
    socket = WebsocketCommunicator(
        application,
        f"/ws/workspaces/{team.workspace.pk}/",
        headers=[HOST, ORIGIN, cookies["alice"]],
    )
    assert (await socket.connect())[0]
    listed = await socket.receive_from(timeout=5)
    badge = f'data-unread-for="{team.thread.pk}" data-count="{{}}"'

    await database_sync_to_async(reply_stop)(reply=reply, by=team.member)
    ended = await socket.receive_from(timeout=5)
    await socket.disconnect()

    assert badge.format(0) in listed
    assert ended.startswith('<div hx-swap-oob="afterbegin:#nav-threads">')
    assert badge.format(1) in ended
