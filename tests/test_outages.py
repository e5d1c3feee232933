"""Redis goes away while people have a thread open and an answer streams, then comes back.

Real parts: daphne, the model worker and the Redis they share, stopped and started again at
the same address. Pages are sockets read the way the browser's htmx reads them.
"""

import asyncio
import re

import pytest
from channels.db import database_sync_to_async
from websockets import ClientConnection

from chat.models import Message
from chat.services import message_create
from harness.ws_client import ClientView, send_message, thread_socket

from .factories import LONG_ANSWER_PROMPT

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

TIMEOUT_S = 300  # a whole answer of LLM_MAX_TOKENS on a loaded 2-core machine, and more
BADGE = re.compile(r'<span id="connection" [^>]*data-state="(\w+)"')
ENDED = ("done", "interrupted")


async def _read_until(
    socket: ClientConnection, view: ClientView, condition, *, badges: list[str] | None = None
) -> None:
    """Apply what the socket sends to ``view`` (noting each connection badge in ``badges``)
    until ``condition(view, badge)`` holds for the newest badge seen."""
    badge = None
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            html = await socket.recv(decode=True)
            assert isinstance(html, str)
            view.apply(html)
            if shown := BADGE.search(html):
                badge = shown[1]
                if badges is not None:
                    badges.append(badge)
            if condition(view, badge):
                return


def _badge_is(state: str):
    return lambda view, badge: badge == state


async def test_a_page_says_reconnecting_while_redis_is_away_and_live_once_caught_up(
    live_stack, team, redis_server
):
    view = ClientView()
    async with thread_socket(live_stack, team.thread.pk, team.owner) as alice:
        await _read_until(alice, view, _badge_is("live"))
        await asyncio.to_thread(redis_server.stop)
        try:
            await _read_until(alice, view, _badge_is("reconnecting"))
            missed = await database_sync_to_async(message_create)(
                thread=team.thread, author=team.member, body="posted while Redis was away"
            )
        finally:
            await asyncio.to_thread(redis_server.start)
        assert missed.pk not in view.messages
        await _read_until(alice, view, _badge_is("live"))
        # "live" comes after the catch-up: what was posted meanwhile is shown by then.
        assert "posted while Redis was away" in view.messages[missed.pk].body


async def test_an_answer_streaming_through_a_redis_outage_ends_and_every_process_serves_after(
    live_stack, team, redis_server
):
    """The worker goes on writing the answer to the database while Redis is away; the page,
    told it is reconnecting, is shown the answer's end once Redis is back. Then daphne and
    the worker, never restarted, take a new question and answer it."""
    view = ClientView()
    badges: list[str] = []
    async with thread_socket(live_stack, team.thread.pk, team.owner) as alice:
        await _read_until(alice, view, _badge_is("live"))
        await send_message(alice, LONG_ANSWER_PROMPT)
        await _read_until(
            alice, view, lambda view, badge: any(m.seq >= 2 for m in view.messages.values())
        )
        reply_id = max(view.messages)
        await asyncio.to_thread(redis_server.stop)
        try:
            await _read_until(alice, view, _badge_is("reconnecting"), badges=badges)
            away_at = view.messages[reply_id].seq
            await _saved_past(reply_id, away_at)  # the answer went on without Redis
        finally:
            await asyncio.to_thread(redis_server.start)
        await _read_until(
            alice,
            view,
            lambda view, badge: badge == "live" and view.messages[reply_id].status in ENDED,
            badges=badges,
        )
    assert badges[0] == "reconnecting"
    reply = await database_sync_to_async(Message.objects.get)(pk=reply_id)
    assert reply.status in ENDED
    assert view.messages[reply_id].status == reply.status
    assert view.messages[reply_id].seq == reply.last_seq

    after = ClientView()
    async with thread_socket(live_stack, team.thread.pk, team.member) as bob:
        await _read_until(bob, after, _badge_is("live"))
        known = set(after.messages)
        await send_message(bob, "@assistant Say hello in five words.")
        await _read_until(
            bob,
            after,
            lambda view, badge: (
                len(set(view.messages) - known) == 2  # question and answer
                and view.messages[max(view.messages)].status == "done"
            ),
        )


async def _saved_past(reply_id: int, seq: int) -> None:
    """Wait until the answer's row holds a frame after ``seq``, or the answer ended."""
    async with asyncio.timeout(TIMEOUT_S):
        while not await database_sync_to_async(
            Message.objects.filter(pk=reply_id)
            .exclude(status=Message.Status.STREAMING, last_seq__lte=seq)
            .exists
        )():
            await asyncio.sleep(0.1)
