"""One read model of a message: a streaming answer shows the same text, its newest, through
every door: the thread page, its socket, ``/m/<id>/``, the API and its Server-Sent Events."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.urls import reverse

from api.services import api_token_create
from chat.models import Message
from config.asgi import application
from harness.ws_client import session_cookie

from .factories import answer_finish, assistant_reply, frame_send

pytestmark = pytest.mark.django_db(transaction=True)

SAVED, NEWEST = "Call", "Call it Aurora"
READ_TIMEOUT_S = 10


@pytest.fixture
def answer(team) -> Message:
    """A streaming answer saved at its first frame; its next two frames only the cache and
    the sockets have seen (the worker saves about once a second)."""
    reply = assistant_reply(
        thread=team.thread,
        asker=team.member,
        status=Message.Status.STREAMING,
        body=SAVED,
        last_seq=1,
    )
    frame_send(reply, text="Call it", seq=2, delta=" it")
    frame_send(reply, text=NEWEST, seq=3, delta=" Aurora")
    return reply


@pytest.fixture
def bearer(team) -> dict[str, str]:
    _, secret = api_token_create(user=team.member, name="read")
    return {"Authorization": f"Bearer {secret}"}


def test_the_page_and_both_json_doors_show_the_newest_text_alike(client, team, answer, bearer):
    client.force_login(team.member)

    page = client.get(reverse("thread-detail", args=[team.thread.pk])).text
    polled = client.get(reverse("message-status", args=[answer.pk])).json()
    from_api = client.get(f"/api/messages/{answer.pk}", headers=bearer).json()

    assert NEWEST in page
    assert polled["body"] == NEWEST
    assert polled["last_seq"] == 3
    assert from_api == polled, "one JSON for a message, whichever door it is asked at"


async def test_a_socket_shows_the_newest_text_on_joining_and_every_frame_after(team, answer):
    socket = WebsocketCommunicator(
        application,
        f"/ws/threads/{team.thread.pk}/",
        headers=[
            (b"host", b"localhost"),
            (b"origin", b"http://localhost"),
            (b"cookie", (await database_sync_to_async(session_cookie)(team.member)).encode()),
        ],
    )
    connected, _ = await socket.connect()
    assert connected
    try:
        transcript = await socket.receive_from(timeout=READ_TIMEOUT_S)
        assert NEWEST in transcript

        await database_sync_to_async(frame_send)(answer, text=f"{NEWEST}.", seq=4, delta=".")
        body_id = f'id="message-{answer.pk}-body"'
        shown = await socket.receive_from(timeout=READ_TIMEOUT_S)
        while body_id not in shown:  # presence and the like come too
            shown = await socket.receive_from(timeout=READ_TIMEOUT_S)
        assert f"{NEWEST}." in shown, "this process missed frames 2 and 3: it read them"
        assert 'data-seq="4"' in shown
    finally:
        await socket.disconnect()


async def test_server_sent_events_start_from_the_newest_text(async_client, answer, bearer):
    response = await async_client.get(f"/api/messages/{answer.pk}/stream", headers=bearer)
    chunks = aiter(response.streaming_content)
    try:
        first = _sse_data(await asyncio.wait_for(anext(chunks), READ_TIMEOUT_S))
        assert first == {"message_id": answer.pk, "seq": 3, "text": NEWEST}

        await sync_to_async(answer_finish)(answer, text=f"{NEWEST}.", seq=4)
        rest = [_sse_data(chunk) async for chunk in chunks]
        assert rest[0]["text"] == "."
        assert rest[-1]["message"]["body"] == f"{NEWEST}."
    finally:
        await sync_to_async(connections.close_all)()  # the stream's database thread's


def _sse_data(chunk: bytes) -> dict:
    """The data of the last Server-Sent Event in ``chunk``."""
    events = [event for event in chunk.decode().split("\n\n") if event.strip()]
    return json.loads(events[-1].rsplit("data: ", 1)[1])
