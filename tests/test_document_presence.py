"""Presence in a document: each editor's cursor is shown by its own socket alone, on every
replica, whatever client id another member's editor names."""

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User

from documents import protocol
from documents.models import Document
from documents.services import document_create
from harness.document_client import DocumentPeer, document_peer
from harness.live_stack import WebStack
from tests.factories import MembershipFactory, UserFactory

pytestmark = [pytest.mark.services, pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def two_replicas(web_stack: WebStack) -> Iterator[tuple[WebStack, WebStack]]:
    with web_stack.another_web_replica() as second:
        yield web_stack, second


@pytest.fixture
def document(team) -> Document:
    return document_create(workspace=team.workspace, title="Launch plan", created_by=team.owner)


@pytest.fixture
def carol(team) -> User:
    """A third member, who watches."""
    user: User = UserFactory.create(username="carol")
    MembershipFactory.create(workspace=team.workspace, user=user)
    return user


async def forge(peer: DocumentPeer, client_id: int, state: dict | None) -> None:
    """Send presence in the name of ``client_id``, as a tampered editor would."""
    entry = protocol.Presence(client_id, 99, state)
    await peer.socket.send(protocol.awareness(protocol.awareness_write([entry])))


def _seen(observer: DocumentPeer, client_id: int) -> dict | None:
    return observer.presence.get(client_id)


async def test_naming_another_editors_client_is_refused_and_a_third_sees_no_change(
    team, carol, document, web_stack
):
    async with (
        document_peer(web_stack, document.pk, team.owner) as alice,
        document_peer(web_stack, document.pk, team.member) as bob,
        document_peer(web_stack, document.pk, carol) as observer,
    ):
        await alice.say_present({"cursor": {"anchor": 1}})
        await observer.receive_until(lambda: alice.doc.client_id in observer.presence)

        await forge(bob, alice.doc.client_id, {"cursor": {"anchor": 42}})
        await bob.receive_until(lambda: bool(bob.notices))
        assert bob.notices[0]["type"] == "error"
        assert "already uses your editor's id" in bob.notices[0]["message"]
        await forge(bob, alice.doc.client_id, None)  # nor can he hide her

        # bob's socket lives on, and his own presence comes after whatever his forged frames
        # could have caused.
        await bob.say_present({"cursor": {"anchor": 5}})
        await observer.receive_until(lambda: bob.doc.client_id in observer.presence)
        assert _seen(observer, bob.doc.client_id)["user"]["name"] == "bob"  # type: ignore[index]
        victim = _seen(observer, alice.doc.client_id)
        assert victim is not None
        assert victim["cursor"] == {"anchor": 1}
        assert victim["user"]["name"] == "alice"
        assert len(bob.notices) == 1  # told once


async def test_leaving_after_a_refused_forge_announces_only_the_leavers_own_editor_gone(
    team, carol, document, web_stack
):
    async with (
        document_peer(web_stack, document.pk, team.owner) as alice,
        document_peer(web_stack, document.pk, carol) as observer,
    ):
        await alice.say_present({"cursor": {"anchor": 1}})
        await observer.receive_until(lambda: alice.doc.client_id in observer.presence)
        async with document_peer(web_stack, document.pk, team.member) as bob:
            await forge(bob, alice.doc.client_id, {"cursor": None})
            await bob.receive_until(lambda: bool(bob.notices))
            await bob.say_present({"cursor": None})
            await observer.receive_until(lambda: bob.doc.client_id in observer.presence)

        bob_id = bob.doc.client_id
        await observer.receive_until(
            lambda: bob_id in observer.presence and observer.presence[bob_id] is None
        )
        assert _seen(observer, alice.doc.client_id) is not None


async def test_two_replicas_never_give_one_client_id_to_two_peoples_sockets(
    team, document, two_replicas
):
    first, second = two_replicas
    async with (
        document_peer(first, document.pk, team.owner) as alice,
        document_peer(second, document.pk, team.member) as bob,
    ):
        await alice.say_present({"cursor": None})
        await bob.receive_until(lambda: alice.doc.client_id in bob.presence)  # claimed by then

        await forge(bob, alice.doc.client_id, {"cursor": {"anchor": 3}})
        await bob.receive_until(lambda: bool(bob.notices))
        assert "already uses your editor's id" in bob.notices[0]["message"]

        await alice.say_present({"cursor": {"anchor": 7}})  # still hers, on her replica
        await bob.receive_until(
            lambda: (bob.presence[alice.doc.client_id] or {}).get("cursor") == {"anchor": 7}
        )
        assert not alice.notices
