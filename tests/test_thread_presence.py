"""Who has a thread open and who is typing, seen live by the others on every replica."""

import asyncio
import json
from collections.abc import Iterator

import pytest
import websockets

from harness.live_stack import WebStack
from harness.ws_client import thread_socket

pytestmark = [pytest.mark.services, pytest.mark.live, pytest.mark.django_db(transaction=True)]

TIMEOUT_S = 10


@pytest.fixture(scope="module")
def two_replicas(web_stack: WebStack) -> Iterator[tuple[WebStack, WebStack]]:
    with web_stack.another_web_replica() as second:
        yield web_stack, second


async def _until(socket: websockets.ClientConnection, *, contains: str) -> str:
    """The first fragment the socket receives with ``contains``."""
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            html = str(await socket.recv())
            if contains in html:
                return html


async def test_members_see_who_has_the_thread_open_and_who_is_typing(team, two_replicas):
    first, second = two_replicas
    async with thread_socket(first, team.thread.pk, team.owner) as alice:
        async with thread_socket(second, team.thread.pk, team.member) as bob:
            await _until(alice, contains="<li>alice</li><li>bob</li>")

            await bob.send(json.dumps({"typing": "1"}))
            typing = await _until(alice, contains='id="thread-typing"')
            assert "bob is typing…" in typing

        # bob closed his page: the others see him go.
        await _until(alice, contains="<li>alice</li></ul>")


async def test_presence_names_are_escaped(team, web_stack):
    team.member.first_name, team.member.last_name = "<img src=x onerror=alert(1)>", ""
    await asyncio.to_thread(team.member.save)
    async with (
        thread_socket(web_stack, team.thread.pk, team.owner) as alice,
        thread_socket(web_stack, team.thread.pk, team.member),
    ):
        html = await _until(alice, contains="&lt;img")
        assert "<img" not in html
