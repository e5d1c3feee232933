"""A socket's session and user are found once when it opens; its sends pass straight through."""

from typing import Any

import pytest
from channels.db import database_sync_to_async

from harness.ws_client import session_cookie
from realtime.sessions import socket_auth_stack

pytestmark = pytest.mark.django_db(transaction=True)


async def _opened(cookie: str) -> tuple[dict[str, Any], Any, Any]:
    """Open a socket through the stack: the scope its consumer got, its ``send``, and the
    server's."""
    seen: dict[str, Any] = {}

    async def consumer(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen["scope"], seen["send"] = scope, send
        seen["user"] = await database_sync_to_async(lambda: scope["user"].pk)()

    async def server_send(message: dict[str, Any]) -> None: ...

    scope = {"type": "websocket", "path": "/ws/", "headers": [(b"cookie", cookie.encode())]}
    await socket_auth_stack(consumer)(scope, None, server_send)
    return seen, seen["send"], server_send


async def test_a_socket_knows_its_persons_session_and_user(team) -> None:
    cookie = await database_sync_to_async(session_cookie)(team.member)

    seen, _, _ = await _opened(cookie)

    assert seen["user"] == team.member.pk
    assert seen["scope"]["session"].session_key == cookie.split("=", 1)[1]


async def test_a_socket_without_a_session_is_anonymous() -> None:
    seen, _, _ = await _opened("sessionid=nosuchsession")

    assert seen["user"] is None


async def test_what_a_socket_sends_reaches_the_server_unwrapped(team) -> None:
    """No per-message session checks: each of hundreds of sockets sends 25 frames a second."""
    cookie = await database_sync_to_async(session_cookie)(team.member)

    _, consumer_send, server_send = await _opened(cookie)

    assert consumer_send is server_send


async def test_the_socket_stack_refuses_http() -> None:
    with pytest.raises(ValueError, match="WebSocket"):
        await socket_auth_stack(None)({"type": "http", "headers": []}, None, None)
