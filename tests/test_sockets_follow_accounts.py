"""Open sockets follow accounts and memberships, on every web replica (the real stack).

Bob holds sockets on two daphne processes. Whatever ends his access closes the sockets it
concerns, on both, while alice's socket on the same thread stays live.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import pytest
import websockets
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from harness.live_stack import LiveStack
from harness.ws_client import post_as, send_message, session_cookie, thread_socket
from realtime.consumers import CLOSE_NOT_AUTHENTICATED, CLOSE_NOT_FOUND
from workspace.services import membership_remove

pytestmark = [pytest.mark.services, pytest.mark.live, pytest.mark.django_db(transaction=True)]

CLOSE_TIMEOUT_S = 10  # generous for a slow machine: the benchmark measures how fast


@pytest.fixture(scope="module")
def two_replicas(live_stack: LiveStack) -> Iterator[tuple[LiveStack, LiveStack]]:
    with live_stack.another_web_replica() as second:
        yield live_stack, second


async def _live(socket: websockets.ClientConnection) -> websockets.ClientConnection:
    """Wait for the transcript: from then on the socket follows its topics. (Who has the
    thread open may come first: the socket follows the thread before it reads the transcript.)"""
    async with asyncio.timeout(CLOSE_TIMEOUT_S):
        while 'id="transcript"' not in (frame := await socket.recv()):
            assert 'id="thread-presence"' in frame
    return socket


async def _close_code(socket: websockets.ClientConnection) -> int | None:
    """Read until the server closes the socket; its close code."""
    async with asyncio.timeout(CLOSE_TIMEOUT_S):
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                await socket.recv()
    return socket.close_code


async def _still_live(socket: websockets.ClientConnection) -> None:
    """``socket`` can still post, and receives the thread: its message comes back to it."""
    await send_message(socket, "are you still there?")
    async with asyncio.timeout(CLOSE_TIMEOUT_S):
        while "are you still there?" not in await socket.recv():
            pass


@dataclass
class Sockets:
    bob_session: str  # the cookie of bob's first session
    bob_first: websockets.ClientConnection  # that session, on the first replica
    bob_second: websockets.ClientConnection  # the same session, on the second replica
    bob_other_session: websockets.ClientConnection  # another session of bob's
    alice: websockets.ClientConnection

    @property
    def bobs(self) -> list[websockets.ClientConnection]:
        return [self.bob_first, self.bob_second, self.bob_other_session]


@pytest.fixture
async def sockets(team, two_replicas) -> AsyncIterator[Sockets]:
    first, second = two_replicas
    bob_session = await database_sync_to_async(session_cookie)(team.member)
    async with AsyncExitStack() as opened:

        async def open_socket(stack: LiveStack, user, cookie=None):
            socket = thread_socket(stack, team.thread.pk, user, cookie=cookie)
            return await _live(await opened.enter_async_context(socket))

        yield Sockets(
            bob_session=bob_session,
            bob_first=await open_socket(first, team.member, bob_session),
            bob_second=await open_socket(second, team.member, bob_session),
            bob_other_session=await open_socket(second, team.member),
            alice=await open_socket(first, team.owner),
        )


async def test_removing_a_member_closes_their_sockets_on_every_replica(team, sockets):
    await database_sync_to_async(membership_remove)(
        workspace=team.workspace, user=team.member, by=team.owner
    )

    for socket in sockets.bobs:
        assert await _close_code(socket) == CLOSE_NOT_FOUND
    await _still_live(sockets.alice)


async def test_logging_out_closes_that_sessions_sockets_on_every_replica(
    team, sockets, two_replicas
):
    first, _ = two_replicas
    status = await database_sync_to_async(post_as)(
        first, team.member, "/logout/", cookie=sockets.bob_session
    )
    assert status in (200, 302)

    assert await _close_code(sockets.bob_first) == CLOSE_NOT_AUTHENTICATED
    assert await _close_code(sockets.bob_second) == CLOSE_NOT_AUTHENTICATED
    # His other session is still logged in: its socket stays, and can still post.
    await _still_live(sockets.bob_other_session)


async def test_changing_the_password_closes_every_socket_of_the_account(team, sockets):
    def change_password() -> None:
        bob = get_user_model().objects.get(pk=team.member.pk)
        bob.set_password("a new and different passphrase")
        bob.save()

    await database_sync_to_async(change_password)()

    for socket in sockets.bobs:
        assert await _close_code(socket) == CLOSE_NOT_AUTHENTICATED
    await _still_live(sockets.alice)


async def test_deactivating_the_account_closes_every_socket_of_it(team, sockets):
    def deactivate() -> None:
        bob = get_user_model().objects.get(pk=team.member.pk)
        bob.is_active = False
        bob.save()

    await database_sync_to_async(deactivate)()

    for socket in sockets.bobs:
        assert await _close_code(socket) == CLOSE_NOT_AUTHENTICATED
    await _still_live(sockets.alice)
