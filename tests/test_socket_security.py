"""The thread socket under hostile input: foreign origins, bad frames, floods, ended sessions."""

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.models import Session

from chat.models import Message
from config.asgi import application
from harness.ws_client import session_cookie
from realtime.consumers import CLOSE_NOT_AUTHENTICATED

from .event_order import event_next

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

HOST = "127.0.0.1:8000"


def _socket(thread_id: int, cookie: str, *, origin: str | None, scheme: str = "ws"):
    headers = [(b"host", HOST.encode()), (b"cookie", cookie.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    communicator = WebsocketCommunicator(application, f"/ws/threads/{thread_id}/", headers)
    communicator.scope["scheme"] = scheme
    return communicator


async def _opens(communicator: WebsocketCommunicator) -> bool:
    connected, _ = await communicator.connect()
    if connected:
        transcript = await communicator.receive_from(timeout=5)
        assert 'id="transcript"' in transcript, "an accepted member is sent the transcript"
    await communicator.disconnect()
    return connected


@pytest.fixture
async def alice_cookie(team) -> str:
    return await database_sync_to_async(session_cookie)(team.owner)


@pytest.mark.parametrize(
    ("origin", "scheme", "opens"),
    [
        (f"http://{HOST}", "ws", True),
        ("http://127.0.0.1:9", "ws", False),  # another port of the same host
        (f"https://{HOST}", "ws", False),  # another scheme
        (f"http://{HOST}", "wss", False),  # a page over http for a socket over TLS
        (f"https://{HOST}", "wss", True),
        ("http://127.0.0.1", "ws", False),  # the default port is another port
        ("null", "ws", False),  # sandboxed frames and file:// pages
        (None, "ws", False),
    ],
)
async def test_only_the_sites_own_full_origin_may_open_a_members_socket(
    team, alice_cookie, origin, scheme, opens
):
    socket = _socket(team.thread.pk, alice_cookie, origin=origin, scheme=scheme)
    assert await _opens(socket) is opens


async def test_a_configured_origin_may_open_sockets_too(team, alice_cookie, settings):
    settings.WEBSOCKET_ALLOWED_ORIGINS = ["https://chat.example.com"]
    proxied = _socket(team.thread.pk, alice_cookie, origin="https://chat.example.com")
    assert await _opens(proxied)
    other = _socket(team.thread.pk, alice_cookie, origin="https://chat.example.com:8443")
    assert not await _opens(other)


async def _member_socket(team, cookie: str) -> WebsocketCommunicator:
    socket = _socket(team.thread.pk, cookie, origin=f"http://{HOST}")
    connected, _ = await socket.connect()
    assert connected
    await socket.receive_from(timeout=5)  # the transcript
    return socket


async def _send_and_read(socket: WebsocketCommunicator, text_data: str) -> str:
    await socket.send_to(text_data=text_data)
    return await event_next(socket)


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ('{"body": "a\\ud800b"}', "not text"),  # a lone surrogate
        (json.dumps({"body": "a\x00b"}), "not text"),
        ("[" * 5_000 + "]" * 5_000, "malformed frame"),  # nested deeper than the parser goes
        ("{" * 5_000, "malformed frame"),
        (json.dumps({"body": "x" * 100_000}), "the limit is"),
    ],
)
async def test_a_bad_frame_gets_a_clear_error_and_the_socket_lives_on(
    team, alice_cookie, frame, error
):
    socket = await _member_socket(team, alice_cookie)

    reply = await _send_and_read(socket, frame)

    assert 'id="composer-error"' in reply
    assert error in reply
    posted = await _send_and_read(socket, json.dumps({"body": "still here"}))
    assert "still here" in posted or 'id="composer-body"' in posted
    await socket.disconnect()
    bodies = await database_sync_to_async(list)(Message.objects.values_list("body", flat=True))
    assert bodies == ["still here"]


async def test_posting_faster_than_the_rate_limit_is_refused_with_a_clear_message(
    team, alice_cookie, settings
):
    settings.MESSAGE_RATE_LIMIT = 5
    settings.MESSAGE_RATE_WINDOW_S = 60
    socket = await _member_socket(team, alice_cookie)

    for n in range(8):
        await socket.send_to(text_data=json.dumps({"body": f"spam {n}"}))
    accepted, refused = 0, list[str]()
    while accepted + len(refused) < 8:  # each post is answered: composer cleared, or an error
        html = await socket.receive_from(timeout=5)
        if 'id="composer-body"' in html:
            accepted += 1
        elif "too fast" in html:
            refused.append(html)
    await socket.disconnect()

    # At most 5 in the window (fewer if this person posted in it already), the rest refused.
    assert accepted <= 5
    assert len(refused) >= 3
    assert "at most 5 every 60 seconds" in refused[0]
    assert await database_sync_to_async(Message.objects.count)() == accepted


async def test_a_frame_from_a_session_that_ended_is_refused_and_closes_the_socket(
    team, alice_cookie
):
    socket = await _member_socket(team, alice_cookie)
    # The session disappears without any signal (e.g. expired and cleared): the frame itself
    # must be checked.
    await database_sync_to_async(Session.objects.all().delete)()

    await socket.send_to(text_data=json.dumps({"body": "posting as alice?"}))

    output = await socket.receive_output(timeout=5)
    assert output == {"type": "websocket.close", "code": CLOSE_NOT_AUTHENTICATED}
    assert not await database_sync_to_async(Message.objects.exists)()


async def test_a_frame_from_a_deactivated_account_is_refused(team, alice_cookie):
    socket = await _member_socket(team, alice_cookie)
    # A bulk update sends no signal: only the check on the frame can notice.
    await database_sync_to_async(type(team.owner).objects.filter(pk=team.owner.pk).update)(
        is_active=False
    )

    await socket.send_to(text_data=json.dumps({"body": "posting as alice?"}))

    output = await socket.receive_output(timeout=5)
    assert output == {"type": "websocket.close", "code": CLOSE_NOT_AUTHENTICATED}
    assert not await database_sync_to_async(Message.objects.exists)()
