"""PostgreSQL goes away while an answer streams, then comes back.

The outage is real: the database refuses new connections and every open one is cut, as when
the server restarts; the worker's own code is not touched. Only PostgreSQL can go away (a
SQLite file cannot), so these run in the second tier.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connection
from psycopg import sql

from chat.models import Message
from chat.streaming_state import live_text_get_many

from .factories import assistant_reply
from .model_worker import fake_answer, in_background, joined, reply_generate, until

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

ANSWER_WORDS = 150


@pytest.fixture
def postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("only a database server can go away and come back")


@contextmanager
def database_away() -> Iterator[None]:
    """The test database refuses connections and drops the open ones until the block ends."""
    db = connection.settings_dict
    name = sql.Identifier(db["NAME"])
    with psycopg.connect(
        host=db["HOST"] or "localhost",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name))
        try:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                [db["NAME"]],
            )
            yield
        finally:
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(name))
    connection.close()  # this thread's connection was cut too


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
