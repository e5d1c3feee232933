"""The thread socket, through the real ASGI stack (origin check, sessions) and real Redis."""

import asyncio
import gc
import json
from collections.abc import Awaitable, Callable
from weakref import WeakKeyDictionary

import pytest
import redis
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings

from chat.consumers import ThreadConsumer
from chat.models import Message
from config.asgi import application
from harness.ws_client import Received, session_cookie
from realtime.channel_layer import groups_followed
from realtime.consumers import CLOSE_NOT_AUTHENTICATED, CLOSE_NOT_FOUND
from realtime.topics import thread_topic, user_topic

from .event_order import event_next, received_before_marker
from .factories import AssistantMessageFactory, MessageFactory, assistant_reply, frame_send
from .model_worker import WAIT_S, fake_answer, in_background, joined, reply_generate

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

ORIGIN = (b"origin", b"http://localhost")
HOST = (b"host", b"localhost")


def _cookie(user) -> tuple[bytes, bytes]:
    return (b"cookie", session_cookie(user).encode())


def _socket(thread_id: int, *headers: tuple[bytes, bytes]) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, f"/ws/threads/{thread_id}/", headers=[HOST, *headers])


@pytest.fixture
def cookies(team):
    return {
        "alice": _cookie(team.owner),
        "bob": _cookie(team.member),
        "mallory": _cookie(team.outsider),
    }


PRESENCE = '<ul id="thread-presence"'
# Announcements of who has the thread open that a socket was sent before its transcript.
_announced_early: WeakKeyDictionary[WebsocketCommunicator, list[str]] = WeakKeyDictionary()


async def _join(communicator: WebsocketCommunicator) -> str:
    """Connect as a member; the transcript is sent, to catch up from. Only an announcement of
    who has the thread open may come before it: the socket follows the thread before it is sent
    the transcript, so a join announced meanwhile reaches it first (kept for ``_until_present``)."""
    connected, _ = await communicator.connect()
    assert connected
    early = _announced_early.setdefault(communicator, [])
    while (frame := await communicator.receive_from(timeout=5)).startswith(PRESENCE):
        early.append(frame)
    assert frame.startswith('<div id="transcript" hx-swap-oob="innerHTML">')
    return frame


async def _until_present(communicator: WebsocketCommunicator, *names: str) -> None:
    """Read until the socket is told that exactly ``names`` have the thread open: each join is
    announced to everyone, and the announcements may arrive after the joiner's transcript."""
    shown = "".join(f"<li>{name}</li>" for name in names)
    if any(f">{shown}</ul>" in frame for frame in _announced_early.pop(communicator, [])):
        return
    while f">{shown}</ul>" not in await communicator.receive_from(timeout=5):
        pass


def _receiver(communicator: WebsocketCommunicator) -> Callable[[], Awaitable[str]]:
    return lambda: event_next(communicator)


async def _closed_with(communicator: WebsocketCommunicator) -> int:
    connected, _ = await communicator.connect()
    assert connected
    output = await communicator.receive_output(timeout=5)
    await communicator.disconnect()
    assert output["type"] == "websocket.close"
    return output["code"]


async def test_anonymous_visitors_are_closed_with_4401(team):
    assert await _closed_with(_socket(team.thread.pk, ORIGIN)) == CLOSE_NOT_AUTHENTICATED


async def test_non_members_are_closed_with_4404_like_unknown_threads(team, cookies):
    assert (
        await _closed_with(_socket(team.thread.pk, ORIGIN, cookies["mallory"])) == CLOSE_NOT_FOUND
    )
    assert await _closed_with(_socket(999_999, ORIGIN, cookies["alice"])) == CLOSE_NOT_FOUND


async def test_a_foreign_origin_is_refused_before_the_handshake_completes(team, cookies):
    communicator = _socket(team.thread.pk, (b"origin", b"https://evil.example"), cookies["alice"])
    connected, _ = await communicator.connect()
    assert not connected
    await communicator.disconnect()


async def test_a_posted_message_reaches_every_member_escaped_and_clears_only_the_senders_composer(
    team, cookies
):
    alice = _socket(team.thread.pk, ORIGIN, cookies["alice"])
    bob = _socket(team.thread.pk, ORIGIN, cookies["bob"])
    await _join(alice)
    await _join(bob)
    await _until_present(alice, "alice", "bob")
    await _until_present(bob, "alice", "bob")

    await alice.send_to(text_data=json.dumps({"body": "<b hx-get='/admin/'>Ship</b> *it*"}))

    for_alice = [await event_next(alice), await event_next(alice)]
    for_bob = await event_next(bob)
    assert any('id="composer-body"' in html for html in for_alice)
    assert not any('id="composer-body"' in html for html in [for_bob])
    assert 'hx-swap-oob="beforeend:#transcript"' in for_bob
    assert "&lt;b hx-get='/admin/'&gt;Ship&lt;/b&gt; <em>it</em>" in for_bob
    assert "<b hx-get" not in for_bob
    message = await database_sync_to_async(Message.objects.get)()
    assert message.body == "<b hx-get='/admin/'>Ship</b> *it*"
    assert await received_before_marker(_receiver(bob), thread=team.thread, author=team.owner) == []
    await alice.disconnect()
    await bob.disconnect()


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("not json", "malformed frame"),
        (json.dumps(["body"]), "no body"),
        (json.dumps({"body": 42}), "no body"),
        (json.dumps({"body": "   "}), "Write something"),
        (json.dumps({"body": "x" * (settings.MESSAGE_MAX_LENGTH + 1)}), "the limit is"),
    ],
)
async def test_bad_frames_get_a_clear_error_for_the_sender_only_and_save_nothing(
    team, cookies, frame, error
):
    alice = _socket(team.thread.pk, ORIGIN, cookies["alice"])
    bob = _socket(team.thread.pk, ORIGIN, cookies["bob"])
    await _join(alice)
    await _join(bob)

    await alice.send_to(text_data=frame)

    reply = await event_next(alice)
    assert 'id="composer-error"' in reply
    assert error in reply
    assert 'id="composer-body"' not in reply, "the sender's text stays in the composer"
    assert not await database_sync_to_async(Message.objects.exists)()
    assert await received_before_marker(_receiver(bob), thread=team.thread, author=team.owner) == []
    await alice.disconnect()
    await bob.disconnect()


async def test_hostile_model_output_is_rendered_inert_in_frames(team, cookies):
    bob = _socket(team.thread.pk, ORIGIN, cookies["bob"])
    await _join(bob)
    reply = await database_sync_to_async(AssistantMessageFactory.create)(
        thread=team.thread, status=Message.Status.STREAMING
    )
    hostile = '<script>steal()</script><div id="transcript" hx-get="/x" onclick="y()">'
    await database_sync_to_async(frame_send)(reply, text=hostile, seq=1, delta=hostile)

    frame = await event_next(bob)
    assert f'id="message-{reply.pk}-body"' in frame
    assert 'data-seq="1"' in frame
    assert "<script" not in frame
    assert '<div id="transcript"' not in frame
    assert "&lt;script&gt;steal()&lt;/script&gt;" in frame
    await bob.disconnect()


async def test_a_socket_the_server_gave_up_on_leaves_the_thread_and_its_viewers_all_the_same(
    team, cookies
):
    """daphne cancels a socket's handling that has not ended 10 s after its client went (a
    server too busy to finish in time): the socket leaves as a disconnect would have."""
    bob = _socket(team.thread.pk, ORIGIN, cookies["bob"])
    await _join(bob)
    alice = _socket(team.thread.pk, ORIGIN, cookies["alice"])
    await _join(alice)
    await _until_present(bob, "alice", "bob")

    alice.future.cancel()  # as daphne's application checker does

    await _until_present(bob, "bob")
    client = redis.Redis.from_url(settings.REDIS_URL)
    theirs = {thread_topic(team.thread.pk), user_topic(team.owner.pk), user_topic(team.member.pk)}

    async def until_followed(topics: set[str]) -> None:
        async with asyncio.timeout(WAIT_S):
            while theirs & set(await asyncio.to_thread(groups_followed, client)) != topics:
                await asyncio.sleep(0.05)

    await until_followed({thread_topic(team.thread.pk), user_topic(team.member.pk)})  # bob's
    await bob.disconnect()
    await until_followed(set())


async def test_a_socket_that_left_is_freed_at_once_not_at_the_next_full_collection(team, cookies):
    """daphne collects garbage rarely (config/asgi.py): a socket kept alive by a reference
    cycle after it left would hold its memory long after, wave after wave of visitors."""
    gc.collect()
    gc.disable()
    try:
        bob = _socket(team.thread.pk, ORIGIN, cookies["bob"])
        await _join(bob)
        await _until_present(bob, "bob")
        await bob.disconnect()
        del bob
        assert not [o for o in gc.get_objects() if isinstance(o, ThreadConsumer)]
    finally:
        gc.enable()


async def test_a_member_removed_while_connected_can_no_longer_post(team, cookies):
    bob = _socket(team.thread.pk, ORIGIN, cookies["bob"])
    await _join(bob)
    await database_sync_to_async(team.workspace.memberships.filter(user=team.member).delete)()

    await bob.send_to(text_data=json.dumps({"body": "still here?"}))

    output = await bob.receive_output(timeout=5)
    assert output["type"] == "websocket.close"
    assert output["code"] == CLOSE_NOT_FOUND
    assert not await database_sync_to_async(Message.objects.exists)()


async def test_a_joining_member_is_sent_the_transcript_with_the_streaming_answers_newest_text(
    team, cookies
):
    question = await database_sync_to_async(MessageFactory.create)(
        thread=team.thread, author=team.owner, body="@assistant name it"
    )
    reply = await database_sync_to_async(AssistantMessageFactory.create)(
        thread=team.thread, status=Message.Status.STREAMING, body="Nova", last_seq=1
    )
    # Frames 2 and 3 were sent but not yet saved: the cache has them.
    await database_sync_to_async(frame_send)(reply, text="Nova, Orbit", seq=2, delta=", Orbit")
    await database_sync_to_async(frame_send)(
        reply, text="Nova, Orbit and Tide", seq=3, delta=" and Tide"
    )

    transcript = await _join(_socket(team.thread.pk, ORIGIN, cookies["bob"]))

    assert transcript.index(f'id="message-{question.pk}"') < transcript.index(
        f'id="message-{reply.pk}"'
    )
    assert 'data-seq="3"' in transcript
    assert "Nova, Orbit and Tide" in transcript


async def test_an_answer_reaches_members_in_numbered_frames_then_its_final_status(
    team, cookies, fake_model, settings
):
    settings.LLM_FRAME_INTERVAL_S = 0.0  # a frame per piece: many frames, little time
    bob = _socket(team.thread.pk, ORIGIN, cookies["bob"])
    await _join(bob)
    reply = await database_sync_to_async(assistant_reply)(thread=team.thread, asker=team.owner)

    answering = in_background(lambda: reply_generate(reply_id=reply.pk))
    received = Received()
    async with asyncio.timeout(WAIT_S):
        while not received.saw_status(reply.pk, "done"):
            received.html.append(await event_next(bob, timeout=WAIT_S))
    await asyncio.to_thread(joined, answering)

    await database_sync_to_async(reply.refresh_from_db)()
    frames = received.frames(reply.pk)
    assert [frame.seq for frame in frames] == list(range(1, reply.last_seq + 1))
    assert reply.last_seq > 10
    assert "".join(frame.delta for frame in frames) == reply.body == fake_answer(40)
    await bob.disconnect()
