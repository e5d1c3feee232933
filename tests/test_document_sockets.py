"""Editors on two daphne replicas edit one document together, through the real stack.

Each editor is a pycrdt document speaking y-websocket (``harness.document_client``), as the
browser's provider does; the server keeps the authoritative state and relays through Redis.
"""

import asyncio
import contextlib
from collections.abc import Iterator
from functools import partial

import pytest
import websockets
from channels.db import database_sync_to_async
from pycrdt import Doc, Text

from documents import protocol
from documents.consumers import CLOSE_CHANGE_REFUSED
from documents.crdt import TEXT_NAME, doc_from
from documents.models import Document, DocumentUpdate
from documents.selectors import document_state_get, document_text_get
from documents.services import document_create, document_delete
from harness.document_client import DocumentPeer, document_peer, text_insert
from harness.live_stack import WebStack
from realtime.consumers import CLOSE_NOT_FOUND
from workspace.models import Membership
from workspace.services import membership_remove, membership_role_set

pytestmark = [pytest.mark.services, pytest.mark.live, pytest.mark.django_db(transaction=True)]

TIMEOUT_S = 10


@pytest.fixture(scope="module")
def two_replicas(web_stack: WebStack) -> Iterator[tuple[WebStack, WebStack]]:
    with web_stack.another_web_replica() as second:
        yield web_stack, second


@pytest.fixture
def document(team) -> Document:
    return document_create(workspace=team.workspace, title="Launch plan", created_by=team.owner)


async def _server_text(document: Document) -> str:
    return await database_sync_to_async(document_text_get)(document_id=document.pk)


def _holds_all(peer: DocumentPeer, pieces: tuple[str, ...]) -> bool:
    return all(piece in peer.content for piece in pieces)


async def _close_code(peer: DocumentPeer) -> int | None:
    """Read (answering nothing) until the server closes the socket; its close code."""
    async with asyncio.timeout(TIMEOUT_S):
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                frame = await peer.socket.recv()
                if isinstance(frame, str):
                    await peer.handle(frame)
    return peer.socket.close_code


async def test_concurrent_edits_on_two_replicas_converge_to_what_the_server_stores(
    team, document, two_replicas
):
    first, second = two_replicas
    async with (
        document_peer(first, document.pk, team.owner) as alice,
        document_peer(second, document.pk, team.member) as bob,
    ):
        for alice_types, bob_types in (
            ("Goals\n", "Risks\n"),
            ("ship ", "SHIP "),
            ("test", "TEST"),
        ):
            # Both type before either has seen the other's change.
            alice.insert(len(alice.content), alice_types)
            bob.insert(0, bob_types)
            await asyncio.gather(alice.send(), bob.send())

        pieces = ("Goals\n", "Risks\n", "ship ", "SHIP ", "test", "TEST")
        for peer in (alice, bob):
            await peer.receive_until(partial(_holds_all, peer, pieces))
        assert alice.content == bob.content
        await alice.resync()  # answered once the server holds every change published

    assert await _server_text(document) == alice.content


async def test_an_editor_back_from_offline_merges_its_edits_both_ways(team, document, two_replicas):
    first, second = two_replicas
    async with document_peer(first, document.pk, team.owner) as alice:
        alice.insert(0, "shared start\n")
        await alice.send()
        async with document_peer(second, document.pk, team.member) as bob:
            await bob.receive_until(lambda: bob.content == "shared start\n")
        kept = bob.doc  # bob's editor keeps its document while the connection is down

        text_insert(kept.get(TEXT_NAME, type=Text), 0, "bob offline\n")
        alice.insert(len(alice.content), "alice online\n")
        await alice.send()

        async with document_peer(second, document.pk, team.member, doc=kept) as bob:
            expected = "bob offline\nshared start\nalice online\n"
            await bob.receive_until(lambda: bob.content == expected)
            await alice.receive_until(lambda: alice.content == expected)
            await alice.resync()

    assert await _server_text(document) == expected


async def test_a_dropped_update_heals_at_the_next_resync(team, document, web_stack):
    async with document_peer(web_stack, document.pk, team.owner) as alice:
        # A change the server stored whose event never reached alice's socket (a lost
        # channel-layer message, say):
        other: Doc = Doc()
        other.get(TEXT_NAME, type=Text).insert(0, "from elsewhere")
        await database_sync_to_async(DocumentUpdate.objects.create)(
            document=document, data=other.get_update(), size=1
        )

        await alice.start()  # the provider's periodic resync: its state vector again
        await alice.receive_until(lambda: alice.content == "from elsewhere")


async def test_presence_shows_the_account_behind_each_editor_whatever_it_claims(
    team, document, two_replicas
):
    first, second = two_replicas
    async with (
        document_peer(first, document.pk, team.owner) as alice,
        document_peer(second, document.pk, team.member) as bob,
    ):
        await bob.say_present({"user": {"name": "alice", "color": "#000"}, "cursor": None})
        await alice.receive_until(lambda: bob.doc.client_id in alice.presence)
        assert alice.presence[bob.doc.client_id]["user"]["name"] == "bob"  # type: ignore[index]

        # A socket speaks only for its own editor: it cannot remove or move alice's presence.
        forged = protocol.Presence(alice.doc.client_id, 99, None)
        await bob.socket.send(protocol.awareness(protocol.awareness_write([forged])))
        await bob.say_present({"cursor": {"anchor": 1}})
        await alice.receive_until(
            lambda: (alice.presence[bob.doc.client_id] or {}).get("cursor") == {"anchor": 1}
        )
        assert alice.doc.client_id not in alice.presence

    # bob's editor leaving is seen at once, not when its presence times out.
    # (alice's socket closed with bob's here: checked through a fresh editor below.)


async def test_a_viewer_reads_live_but_the_server_refuses_their_changes(team, document, web_stack):
    await database_sync_to_async(
        Membership.objects.filter(workspace=team.workspace, user=team.member).update
    )(role=Membership.Role.VIEWER)
    async with (
        document_peer(web_stack, document.pk, team.owner) as alice,
        document_peer(web_stack, document.pk, team.member) as viewer,
    ):
        assert viewer.notices[0]["type"] == "read_only"
        alice.insert(0, "for everyone")
        await alice.send()
        await viewer.receive_until(lambda: viewer.content == "for everyone")

        viewer.insert(0, "vandalism ")
        await viewer.send()
        await viewer.receive_until(lambda: len(viewer.notices) == 2)
        assert viewer.notices[1]["type"] == "error"
        assert "not saved" in viewer.notices[1]["message"]
        await alice.resync()

    assert await _server_text(document) == "for everyone"


async def test_a_member_made_viewer_while_editing_is_told_at_once(team, document, web_stack):
    async with document_peer(web_stack, document.pk, team.member) as bob:
        await database_sync_to_async(membership_role_set)(
            workspace=team.workspace, user=team.member, role=Membership.Role.VIEWER
        )
        await bob.receive_until(lambda: bool(bob.notices))
        assert bob.notices[0]["type"] == "read_only"

        bob.insert(0, "too late")
        await bob.send()
        await bob.receive_until(lambda: len(bob.notices) == 2)
        assert "not saved" in bob.notices[1]["message"]

    assert await _server_text(document) == ""


async def test_a_viewer_made_member_again_is_told_at_once_and_their_changes_are_kept(
    team, document, web_stack
):
    set_role = database_sync_to_async(membership_role_set)
    await set_role(workspace=team.workspace, user=team.member, role=Membership.Role.VIEWER)
    async with document_peer(web_stack, document.pk, team.member) as bob:
        assert bob.notices[0]["type"] == "read_only"

        await set_role(workspace=team.workspace, user=team.member, role=Membership.Role.MEMBER)
        await bob.receive_until(lambda: len(bob.notices) == 2)
        assert bob.notices[1]["type"] == "editable"

        bob.insert(0, "back to work")
        await bob.send()
        await bob.resync()

    assert await _server_text(document) == "back to work"


@pytest.mark.parametrize(
    ("frame", "says"),
    [
        (b"\x00\x02\x05abc", "truncated"),
        (b"\x00\x02\x03\x01\x02\x03", "malformed update"),
        (b"\x07", "Unknown message type"),
        (b"\x01\x05\x01\x01\x01\x01{", "not JSON"),
        ("not binary", "binary"),
    ],
)
async def test_a_malformed_frame_gets_an_error_and_the_document_and_socket_live_on(
    team, document, web_stack, frame, says
):
    async with document_peer(web_stack, document.pk, team.owner) as alice:
        alice.insert(0, "intact")
        await alice.send()
        await alice.socket.send(frame)
        await alice.receive_until(lambda: bool(alice.notices))
        assert alice.notices[0]["type"] == "error"
        assert says in alice.notices[0]["message"]

        alice.insert(len(alice.content), " and still editing")
        await alice.send()
        await alice.resync()

    assert await _server_text(document) == "intact and still editing"


async def test_an_update_over_the_limit_is_refused_and_nothing_is_lost(
    team, document, web_stack, settings
):
    async with document_peer(web_stack, document.pk, team.owner) as alice:
        alice.insert(0, "kept")
        await alice.send()
        alice.insert(0, "x" * 1_100_000)  # over DOCUMENT_UPDATE_MAX_BYTES (1 MiB)
        await alice.send()
        assert await _close_code(alice) == CLOSE_CHANGE_REFUSED  # later changes build on it
        assert "too large" in alice.notices[0]["message"]
        assert alice.content.endswith("kept")  # the editor keeps what was typed

    assert await _server_text(document) == "kept"


async def test_an_embed_is_refused_before_it_reaches_anyone_or_the_log(team, document, web_stack):
    async with (
        document_peer(web_stack, document.pk, team.owner) as alice,
        document_peer(web_stack, document.pk, team.member) as bob,
    ):
        alice.insert(0, "text only")
        await alice.send()
        await bob.receive_until(lambda: bob.content == "text only")

        bob.text.insert_embed(0, {"image": "tracker.png"})
        await bob.send()
        assert await _close_code(bob) == CLOSE_CHANGE_REFUSED  # his later changes build on it
        assert "plain text only, and it adds an embed" in bob.notices[0]["message"]

        alice.insert(len(alice.content), ", still")
        await alice.send()
        await alice.resync()
        assert alice.text.diff() == [("text only, still", None)]

    state = await database_sync_to_async(document_state_get)(document_id=document.pk)
    assert doc_from(state).get(TEXT_NAME, type=Text).diff() == [("text only, still", None)]


async def test_replaying_an_old_update_brings_back_nothing_deleted(team, document, web_stack):
    async with document_peer(web_stack, document.pk, team.owner) as alice:
        alice.insert(0, "draft")
        typed = list(alice._unsent)  # the update as it went out
        await alice.send()
        del alice.text[0 : len("draft")]
        alice.insert(0, "final")
        await alice.send()
        for update in typed:
            await alice.socket.send(protocol.sync_update(update))
        await alice.resync()

    assert await _server_text(document) == "final"


async def test_deleting_an_open_document_tells_its_editors_and_closes(team, document, web_stack):
    async with document_peer(web_stack, document.pk, team.member) as bob:
        await database_sync_to_async(document_delete)(document=document, deleted_by=team.owner)

        assert await _close_code(bob) == CLOSE_NOT_FOUND
        assert bob.notices[-1]["type"] == "deleted"
        assert "alice deleted this document" in bob.notices[-1]["message"]


async def test_removing_a_member_closes_their_document_socket(team, document, web_stack):
    async with document_peer(web_stack, document.pk, team.member) as bob:
        await database_sync_to_async(membership_remove)(
            workspace=team.workspace, user=team.member, by=team.owner
        )
        assert await _close_code(bob) == CLOSE_NOT_FOUND


async def test_non_members_and_unknown_documents_get_4404(team, document, web_stack):
    for user, document_id in ((team.outsider, document.pk), (team.owner, document.pk + 1000)):
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with document_peer(web_stack, document_id, user):
                pass
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == CLOSE_NOT_FOUND
