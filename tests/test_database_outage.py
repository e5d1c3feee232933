"""PostgreSQL goes away while an answer streams, then comes back.

The outage is real (``harness.outages.database_away``): the database refuses new connections
and every open one is cut, as when the server restarts; the worker's own code is not touched.
Only PostgreSQL can go away (a SQLite file cannot), so these run in the second tier.
"""

import asyncio
from collections.abc import Iterator
from html import unescape

import pytest
from channels.db import database_sync_to_async
from django.db import connection

from chat.consumers import DATABASE_AWAY
from chat.models import Message
from chat.streaming_state import live_text_get_many
from harness.outages import database_away
from harness.ws_client import ClientView, send_message, thread_socket

from .factories import LONG_ANSWER_PROMPT, assistant_reply
from .model_worker import fake_answer, in_background, joined, reply_generate, until

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

ANSWER_WORDS = 150
TIMEOUT_S = 300  # a whole answer of LLM_MAX_TOKENS on a loaded 2-core machine, and more
ENDED = ("done", "interrupted")


@pytest.fixture
def postgresql() -> Iterator[None]:
    if connection.vendor != "postgresql":
        pytest.skip("only a database server can go away and come back")
    yield
    connection.close()  # the test's own, cut by the outage if it was opened before


def _streamed_seq(reply_id: int) -> int:
    """The newest frame the worker shared (through Redis, which stays up)."""
    seq, _ = live_text_get_many([reply_id]).get(reply_id, (0, ""))
    return seq


def test_an_answer_goes_on_through_a_database_outage_and_ends_done_with_all_its_text(
    postgresql, team, fake_model, settings
):
    settings.LLM_FAKE_ANSWER_TOKENS = ANSWER_WORDS
    settings.LLM_FAKE_STEP_S = 0.02
    settings.LLM_FRAME_INTERVAL_S = 0.0  # a frame per word
    settings.LLM_PERSIST_INTERVAL_S = 0.05  # it tries to save often while the database is away
    reply = assistant_reply(thread=team.thread, asker=team.owner)

    answering = in_background(lambda: reply_generate(reply_id=reply.pk))
    until(
        lambda: Message.objects.filter(pk=reply.pk, last_seq__gte=3).exists(),
        what="the answer's first frames, saved",
    )
    with database_away():
        away_at = _streamed_seq(reply.pk)
        until(
            lambda: _streamed_seq(reply.pk) >= away_at + 20,
            what="frames streamed while the database was away",
        )
    joined(answering)

    reply.refresh_from_db()
    assert reply.status == Message.Status.DONE
    assert reply.body == fake_answer(ANSWER_WORDS)
    assert reply.last_seq == ANSWER_WORDS


async def test_pages_stay_live_through_a_database_outage_a_post_meanwhile_is_refused_clearly_and_all_recovers(
    postgresql, live_stack, team
):
    """The answer streams on (frames go through Redis), a post gets a clear error and keeps
    its text; once the database is back the answer ends, the post goes, and daphne and the
    worker serve a new socket without a restart."""
    view = ClientView()
    async with thread_socket(live_stack, team.thread.pk, team.owner) as alice:
        await _read_until(alice, view, lambda html: 'data-state="live"' in html)
        await send_message(alice, LONG_ANSWER_PROMPT)
        await _read_until(alice, view, lambda html: any(m.seq >= 2 for m in view.messages.values()))
        reply_id = max(view.messages)
        away = database_away()
        await asyncio.to_thread(away.__enter__)
        try:
            away_at = view.messages[reply_id].seq
            await send_message(alice, "posted while the database was away")
            refused = await _read_until(alice, view, lambda html: 'id="composer-error"' in html)
            await _read_until(alice, view, lambda html: view.messages[reply_id].seq > away_at + 5)
        finally:
            await asyncio.to_thread(away.__exit__, None, None, None)
        assert DATABASE_AWAY in unescape(refused)
        assert 'id="composer-body"' not in refused, "the text stays in the composer"
        await _read_until(alice, view, lambda html: view.messages[reply_id].status in ENDED)
        await send_message(alice, "posted once the database was back")
        posted = await _read_until(alice, view, lambda html: 'id="composer-body"' in html)
        assert "posted once the database was back" not in posted, "the composer is emptied"

    reply = await database_sync_to_async(Message.objects.get)(pk=reply_id)
    assert reply.status in ENDED
    bodies = await database_sync_to_async(
        lambda: list(Message.objects.filter(author=team.owner).values_list("body", flat=True))
    )()
    assert bodies.count("posted once the database was back") == 1
    assert "posted while the database was away" not in bodies
    async with thread_socket(live_stack, team.thread.pk, team.member) as bob:
        await _read_until(bob, ClientView(), lambda html: 'data-state="live"' in html)


async def _read_until(socket, view: ClientView, condition) -> str:
    """Apply what the socket sends to ``view`` until ``condition(html)`` holds for a frame;
    return that frame."""
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            html = await socket.recv(decode=True)
            view.apply(html)
            if condition(html):
                return html
