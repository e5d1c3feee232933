"""Long threads: the page shows the newest messages, earlier ones load on scroll, and a socket
that (re)connects is sent what changed since the revision it reports, not the whole thread."""

import re

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.urls import reverse

from chat.models import Message, Thread
from chat.selectors import MESSAGE_PAGE_SIZE
from chat.services import message_create, message_edit
from config.asgi import application
from harness.ws_client import session_cookie

from .factories import MessageFactory

pytestmark = pytest.mark.services

ARTICLE_ID = re.compile(r'<article id="message-(\d+)"')


def _ids(html: str) -> list[int]:
    return [int(found) for found in ARTICLE_ID.findall(html)]


def _earlier_url(html: str) -> str:
    """Where the page loads the messages before the ones it shows (when scrolled to the top)."""
    found = re.search(r'id="earlier"[^>]*hx-get="([^"]+)"', html)
    assert found is not None, "no earlier messages to load"
    return found[1]


def _long_thread(team, count: int) -> list[Message]:
    return [
        MessageFactory.create(thread=team.thread, author=team.member, body=f"message {n}")
        for n in range(count)
    ]


@pytest.mark.django_db
def test_the_page_shows_the_newest_messages_and_earlier_ones_load_a_page_at_a_time(client, team):
    messages = _long_thread(team, 2 * MESSAGE_PAGE_SIZE + 5)
    client.force_login(team.member)

    page = client.get(reverse("thread-detail", args=[team.thread.pk])).content.decode()
    assert _ids(page) == [m.pk for m in messages[-MESSAGE_PAGE_SIZE:]]
    earlier_url = _earlier_url(page)

    earlier = client.get(earlier_url).content.decode()
    assert _ids(earlier) == [m.pk for m in messages[5:-MESSAGE_PAGE_SIZE]]
    first_url = _earlier_url(earlier)

    first = client.get(first_url).content.decode()
    assert _ids(first) == [m.pk for m in messages[:5]]
    assert 'id="earlier"' not in first, "nothing earlier to load"


@pytest.mark.django_db
def test_earlier_messages_are_for_members_only_and_need_a_position(client, team):
    url = reverse("thread-earlier", args=[team.thread.pk])
    client.force_login(team.outsider)
    assert client.get(url, {"before": 10}).status_code == 404
    client.force_login(team.member)
    assert client.get(url, {"before": "x"}).status_code == 400


@pytest.mark.django_db
def test_every_change_to_a_message_takes_the_threads_next_revision(team):
    first = message_create(thread=team.thread, author=team.member, body="one")
    second = message_create(thread=team.thread, author=team.owner, body="two")
    message_edit(message=first, by=team.member, body="one, edited")

    first.refresh_from_db()
    assert (second.revision, first.revision) == (2, 3)
    assert Thread.objects.get(pk=team.thread.pk).revision == 3


async def _first_fragment(team, query: str) -> str:
    cookie = await database_sync_to_async(session_cookie)(team.member)
    socket = WebsocketCommunicator(
        application,
        f"/ws/threads/{team.thread.pk}/{query}",
        headers=[
            (b"host", b"localhost"),
            (b"origin", b"http://localhost"),
            (b"cookie", cookie.encode()),
        ],
    )
    connected, _ = await socket.connect()
    assert connected
    html = await socket.receive_from(timeout=5)
    await socket.disconnect()
    return html


@pytest.mark.django_db(transaction=True)
async def test_a_reconnecting_socket_is_sent_only_what_changed_since_its_revision(team):
    old = await database_sync_to_async(message_create)(
        thread=team.thread, author=team.member, body="old news"
    )
    untouched = await database_sync_to_async(message_create)(
        thread=team.thread, author=team.member, body="still the same"
    )
    seen = untouched.revision
    await database_sync_to_async(message_edit)(message=old, by=team.member, body="old, edited")
    new = await database_sync_to_async(message_create)(
        thread=team.thread, author=team.owner, body="while you were away"
    )

    caught_up = await _first_fragment(team, f"?since={seen}")

    assert caught_up.startswith('<div hx-swap-oob="beforeend:#transcript">')
    assert _ids(caught_up) == [old.pk, new.pk]
    assert "old, edited" in caught_up


@pytest.mark.django_db(transaction=True)
async def test_answers_still_queued_are_always_sent_to_show_their_place_in_the_queue(team):
    question = await database_sync_to_async(MessageFactory.create)(
        thread=team.thread, author=team.owner
    )
    queued = await database_sync_to_async(Message.objects.create)(
        thread=team.thread,
        role=Message.Role.ASSISTANT,
        status=Message.Status.QUEUED,
        in_reply_to=question,
    )

    caught_up = await _first_fragment(team, "?since=999")

    assert _ids(caught_up) == [queued.pk]


@pytest.mark.django_db(transaction=True)
async def test_a_socket_that_missed_more_than_a_page_gets_the_newest_page_instead(team):
    await database_sync_to_async(_long_thread)(team, MESSAGE_PAGE_SIZE + 1)
    changed = await database_sync_to_async(list)(Message.objects.order_by("id"))
    for message in changed:  # every message changed since revision 0
        await database_sync_to_async(message_edit)(message=message, by=team.member, body="new")

    caught_up = await _first_fragment(team, "?since=0")

    assert caught_up.startswith('<div id="transcript" hx-swap-oob="innerHTML">')
    assert len(_ids(caught_up)) == MESSAGE_PAGE_SIZE


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("query", ["", "?since=", "?since=-1", "?since=abc"])
async def test_without_a_usable_revision_a_socket_gets_the_newest_page(team, query):
    message = await database_sync_to_async(MessageFactory.create)(
        thread=team.thread, author=team.owner
    )

    html = await _first_fragment(team, query)

    assert html.startswith('<div id="transcript" hx-swap-oob="innerHTML">')
    assert _ids(html) == [message.pk]
