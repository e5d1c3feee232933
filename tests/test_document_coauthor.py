"""The assistant writes into a shared document live, on the real stack with the real model,
while a person types elsewhere in it."""

import pytest
from channels.db import database_sync_to_async
from django.conf import settings

from documents import protocol
from documents.models import Document, DocumentWrite
from documents.selectors import document_text_get
from documents.services import document_create
from documents.writes import write_request, write_stop
from harness.document_client import DocumentPeer, document_peer
from harness.live_stack import LiveStack

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

MODEL_TIMEOUT_S = 180  # generous for a slow machine; the benchmark measures the rate
HEADING = "# Launch plan\n\n"


@pytest.fixture
def document(team) -> Document:
    return document_create(workspace=team.workspace, title="Launch plan", created_by=team.owner)


def _write_status(peer: DocumentPeer, write_id: int) -> str | None:
    statuses = [n["status"] for n in peer.notices if n["type"] == "write" and n["id"] == write_id]
    return statuses[-1] if statuses else None


def _assistant_client(peer: DocumentPeer) -> int | None:
    """The Yjs client the peer sees the assistant's cursor at, if it sees it."""
    return next(
        (
            client_id
            for client_id, state in peer.presence.items()
            if state and state.get("user", {}).get("name") == settings.ASSISTANT_NAME
        ),
        None,
    )


async def test_the_assistant_writes_live_and_a_person_typing_elsewhere_keeps_their_text(
    team, document, live_stack: LiveStack
):
    async with (
        document_peer(live_stack, document.pk, team.member) as bob,
        document_peer(live_stack, document.pk, team.owner) as alice,
    ):
        bob.insert(0, HEADING)
        await bob.send()
        await bob.resync()
        write = await database_sync_to_async(write_request)(
            document=document,
            by=team.member,
            instruction="Write three sentences about launching the product on Friday.",
        )

        await bob.receive_until(lambda: len(bob.content) > len(HEADING), MODEL_TIMEOUT_S)
        assistant = _assistant_client(bob)  # its cursor, named, while it writes
        assert assistant is not None
        # No member's editor can speak for the assistant's client, to move or hide its cursor.
        forged = protocol.Presence(assistant, 10_000, None)
        await alice.socket.send(protocol.awareness(protocol.awareness_write([forged])))
        await alice.receive_until(lambda: any(n["type"] == "error" for n in alice.notices))
        refusal = next(n for n in alice.notices if n["type"] == "error")
        assert "already uses your editor's id" in refusal["message"]
        bob.insert(0, "DRAFT ")  # bob keeps typing, elsewhere, while the assistant writes
        await bob.send()
        await bob.receive_until(lambda: _write_status(bob, write.pk) == "done", MODEL_TIMEOUT_S)
        await bob.resync()

    await database_sync_to_async(write.refresh_from_db)()
    stored = await database_sync_to_async(document_text_get)(document_id=document.pk)
    assert stored == bob.content
    assert stored.startswith("DRAFT " + HEADING)
    assert write.written.strip()
    assert write.written in stored


async def test_stopping_a_write_midway_keeps_what_was_written(team, document, live_stack):
    async with document_peer(live_stack, document.pk, team.owner) as alice:
        write = await database_sync_to_async(write_request)(
            document=document,
            by=team.member,
            # The tiny model counts on and on when asked to (see tests/factories.py).
            instruction="Write the numbers from 1 to 1000 in words, one per line: one, two, ...",
        )
        await alice.receive_until(lambda: len(alice.content) > 0, MODEL_TIMEOUT_S)
        assert await database_sync_to_async(write_stop)(write=write, by=team.owner)
        await alice.receive_until(lambda: _write_status(alice, write.pk) == "stopped", 30)
        await alice.resync()

    await database_sync_to_async(write.refresh_from_db)()
    assert write.status == DocumentWrite.Status.STOPPED
    assert write.stopped_by_id == team.owner.pk
    stored = await database_sync_to_async(document_text_get)(document_id=document.pk)
    assert stored
    assert stored == alice.content
