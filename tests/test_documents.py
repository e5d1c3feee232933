"""Documents' storage, protocol and pages: what the server keeps, and who may do what."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from pycrdt import Array, Doc, Map, Text

from documents import protocol
from documents.crdt import TEXT_NAME, MalformedUpdate, doc_from, text_of
from documents.models import Document, DocumentUpdate, DocumentVersion
from documents.presence import AssistantClient, EditorClient
from documents.selectors import document_state_get, document_text_get
from documents.services import (
    document_compact,
    document_create,
    document_update_append,
    documents_sessions_end,
    documents_tidy,
    version_create,
    version_restore,
)
from harness.document_client import text_insert
from tests.factories import embed_stored_unchecked, map_entries_stored_unchecked
from workspace.models import Membership

pytestmark = [pytest.mark.services, pytest.mark.django_db]


class Editor:
    """A Yjs document whose every change is appended to the server's log, as a socket does."""

    def __init__(self, document: Document, user=None) -> None:
        self.document, self.user = document, user
        self.doc: Doc = doc_from(document_state_get(document_id=document.pk))
        self.text = self.doc.get(TEXT_NAME, type=Text)
        self.doc.observe(lambda event: self.updates.append(event.update))
        self.updates: list[bytes] = []

    def type(self, index: int, value: str) -> None:
        text_insert(self.text, index, value)
        for update in self.updates:
            document_update_append(
                document_id=self.document.pk, update=update, author=self.user, sender="test"
            )
        self.updates.clear()


@pytest.fixture
def document(team) -> Document:
    return document_create(workspace=team.workspace, title="Launch plan", created_by=team.owner)


# --- The y-websocket protocol ---------------------------------------------------------------


def test_sync_messages_round_trip():
    for build, kind in (
        (protocol.sync_step1, protocol.Kind.SYNC_STEP1),
        (protocol.sync_step2, protocol.Kind.SYNC_STEP2),
        (protocol.sync_update, protocol.Kind.SYNC_UPDATE),
        (protocol.awareness, protocol.Kind.AWARENESS),
    ):
        payload = bytes(range(200))  # a length over 127 takes two varUint bytes
        assert protocol.message_read(build(payload)) == protocol.Incoming(kind, payload)
    assert protocol.message_read(protocol.QUERY_AWARENESS).kind == protocol.Kind.QUERY_AWARENESS


@pytest.mark.parametrize(
    "frame", [b"", b"\x00", b"\x00\x09\x00", b"\x00\x02\x05ab", b"\x09", b"\xff" * 12]
)
def test_frames_that_are_not_y_websocket_raise_a_protocol_error(frame):
    with pytest.raises(protocol.ProtocolError):
        protocol.message_read(frame)


def test_presence_is_restamped_with_the_account_and_limited_to_the_sockets_own_client():
    claimed = [
        protocol.Presence(7, 3, {"user": {"name": "the CEO"}, "cursor": {"anchor": 2}}),
        protocol.Presence(8, 1, {"user": {"name": "someone else"}}),
        protocol.Presence(7, 4, None),
    ]
    update = protocol.awareness_write(claimed)
    bob = {"name": "bob", "color": "#2563eb"}

    kept = protocol.presence_restamp(protocol.awareness_read(update), client_id=7, user=bob)

    assert kept == [
        protocol.Presence(7, 3, {"user": bob, "cursor": {"anchor": 2}}),
        protocol.Presence(7, 4, None),
    ]


async def test_a_client_id_is_one_persons_and_their_reconnected_socket_takes_it_over(document):
    """Claims as the sockets make them, against the real Redis every replica shares."""
    alice_old = EditorClient(document_id=document.pk, person_id=1, socket_id="old")
    alice_new = EditorClient(document_id=document.pk, person_id=1, socket_id="new")
    bob = EditorClient(document_id=document.pk, person_id=2, socket_id="bob")

    assert await alice_old.speaks_for(42)
    assert not await alice_old.speaks_for(43)  # one client per socket
    assert not await bob.speaks_for(42)
    assert await alice_new.speaks_for(42)  # her editor reconnected before the old socket closed
    assert await alice_old.let_go() is None  # so its leaving announces nobody gone
    assert await alice_new.let_go() == 42
    assert await bob.speaks_for(42)  # free once she has left
    assert await bob.let_go() == 42


async def test_the_assistants_client_is_held_for_it_while_it_writes(document):
    """No member's editor can name the client the assistant writes as, to move or hide its
    cursor; once the write has ended, the id is free."""
    assistant = AssistantClient(document_id=document.pk, client_id=77, write_id=5)
    bob = EditorClient(document_id=document.pk, person_id=2, socket_id="bob")

    assert await database_sync_to_async(assistant.hold)()
    assert not await bob.speaks_for(77)
    await database_sync_to_async(assistant.let_go)()
    assert await bob.speaks_for(77)
    assert not await database_sync_to_async(
        AssistantClient(document_id=document.pk, client_id=77, write_id=6).hold
    )()  # nor does a write take an editor's client


# --- Storage: the log, compaction, limits ---------------------------------------------------


def test_every_change_is_kept_in_the_log_and_the_state_is_the_snapshot_plus_the_log(document):
    editor = Editor(document)
    editor.type(0, "Hello")
    editor.type(5, " world ✓")

    assert DocumentUpdate.objects.filter(document=document).count() == 2
    assert document_text_get(document_id=document.pk) == "Hello world ✓"


def test_compaction_keeps_the_content_empties_the_log_and_derives_the_text(document):
    editor = Editor(document)
    for word in ("the", " plan", " is", " ready"):
        editor.type(len(str(editor.text)), word)

    document_compact(document_id=document.pk)

    document.refresh_from_db()
    assert not document.updates.exists()
    assert document.text == "the plan is ready"
    assert text_of(doc_from(bytes(document.snapshot))) == "the plan is ready"
    assert document_text_get(document_id=document.pk) == "the plan is ready"


def test_changes_after_a_compaction_build_on_its_snapshot(document):
    Editor(document).type(0, "first")
    document_compact(document_id=document.pk)
    later = Editor(document)
    later.type(5, " second")

    assert document_text_get(document_id=document.pk) == "first second"


def test_an_update_merged_twice_changes_nothing(document):
    editor = Editor(document)
    editor.type(0, "once")
    replay = DocumentUpdate.objects.get(document=document).data
    document_compact(document_id=document.pk)
    document_update_append(document_id=document.pk, update=bytes(replay), author=None, sender="x")

    assert document_text_get(document_id=document.pk) == "once"


def test_malformed_and_oversize_updates_are_refused_and_the_document_is_intact(document, settings):
    Editor(document).type(0, "intact")
    with pytest.raises(MalformedUpdate):
        document_update_append(document_id=document.pk, update=b"\x05junk", author=None, sender="x")

    settings.DOCUMENT_UPDATE_MAX_BYTES = 100
    big: Doc = Doc()
    big.get(TEXT_NAME, type=Text).insert(0, "x" * 200)
    with pytest.raises(Exception, match="too large to save"):
        document_update_append(
            document_id=document.pk, update=big.get_update(), author=None, sender="x"
        )

    settings.DOCUMENT_UPDATE_MAX_BYTES = 10_000
    settings.DOCUMENT_MAX_BYTES = 150
    with pytest.raises(Exception, match="size limit"):
        document_update_append(
            document_id=document.pk, update=big.get_update(), author=None, sender="x"
        )
    assert document_text_get(document_id=document.pk) == "intact"


def test_tidying_compacts_quiet_logs_and_purges_documents_deleted_long_ago(document, settings):
    settings.DOCUMENT_COMPACT_QUIET_S = 0
    Editor(document).type(0, "quiet now")
    gone = Document.objects.create(
        workspace=document.workspace,
        title="Old",
        deleted_at=timezone.now() - timedelta(days=settings.DOCUMENT_RESTORE_DAYS + 1),
    )

    documents_tidy()

    document.refresh_from_db()
    assert document.text == "quiet now"
    assert not document.updates.exists()
    assert not Document.objects.filter(pk=gone.pk).exists()


# --- Plain text only ------------------------------------------------------------------------


def _typed(document: Document, value: str) -> Doc:
    """An editor's Y.Doc on the document with ``value`` typed (and kept) at the start."""
    editor = Editor(document)
    editor.type(0, value)
    return editor.doc


def _change(doc: Doc, edit) -> bytes:
    before = doc.get_state()
    edit(doc)
    return doc.get_update(before)


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda doc: doc.get(TEXT_NAME, type=Text).insert_embed(2, {"image": "x"}), "an embed"),
        (lambda doc: doc.get(TEXT_NAME, type=Text).insert(2, "b", {"bold": True}), "formatting"),
        (lambda doc: doc.get(TEXT_NAME, type=Text).format(0, 3, {"link": "x"}), "formatting"),
        (lambda doc: doc.get(TEXT_NAME, type=Text).insert_embed(0, Map({"a": 1})), "nested"),
        (lambda doc: doc.get("notes", type=Text).insert(0, "hidden"), "beside the document's"),
        (lambda doc: doc.get("content-2", type=Array).append(1), "beside the document's"),
    ],
    ids=["embed", "formatted insert", "formatting", "nested type", "other text", "array"],
)
def test_changes_that_add_anything_but_text_are_refused_and_nothing_is_kept(document, edit, says):
    doc = _typed(document, "intact")
    kept = DocumentUpdate.objects.filter(document=document).count()

    with pytest.raises(ValidationError, match=f"plain text only, and .*{says}") as refused:
        document_update_append(
            document_id=document.pk, update=_change(doc, edit), author=None, sender="x"
        )

    assert refused.value.code == "not_text"
    assert DocumentUpdate.objects.filter(document=document).count() == kept
    assert document_text_get(document_id=document.pk) == "intact"


def test_a_map_under_the_texts_name_is_refused(document):
    other: Doc = Doc()
    other.get(TEXT_NAME, type=Map)["title"] = "a value where text belongs"

    with pytest.raises(ValidationError, match="under a key"):
        document_update_append(
            document_id=document.pk, update=other.get_update(), author=None, sender="x"
        )


def test_typing_deleting_and_pasting_text_of_any_script_is_kept(document):
    doc = _typed(document, "Grüße, 世界 🎉\n")
    text = doc.get(TEXT_NAME, type=Text)
    for edit in (
        lambda _: text_insert(text, 3, "ẞ"),
        lambda _: text.__delitem__(slice(0, 2)),
        lambda _: text_insert(text, len(str(text)), "pasted\n" * 500),
    ):
        document_update_append(
            document_id=document.pk, update=_change(doc, edit), author=None, sender="x"
        )
    # Two editors' changes merged into one update (as a resync sends them) pass too.
    document_update_append(
        document_id=document.pk,
        update=document_state_get(document_id=document.pk),
        author=None,
        sender="x",
    )

    assert document_text_get(document_id=document.pk) == str(text)


def test_restoring_a_version_cleans_out_embeds_kept_from_before(document, team):
    Editor(document).type(0, "Intro\nPlan A\nOutro\n")
    version = version_create(document=document, name="Plan A", created_by=team.owner)
    Editor(document).type(0, "Überblick\n")  # offsets in bytes, past a two-byte letter
    embed_stored_unchecked(document)

    version_restore(version=version, restored_by=team.owner)

    text = doc_from(document_state_get(document_id=document.pk)).get(TEXT_NAME, type=Text)
    assert str(text) == "Intro\nPlan A\nOutro\n"
    assert text.diff() == [("Intro\nPlan A\nOutro\n", None)]  # nothing but text


def test_restoring_a_version_cleans_out_map_entries_and_other_types_kept_from_before(
    document, team
):
    Editor(document).type(0, "Intro\nPlan A\n")
    version = version_create(document=document, name="Plan A", created_by=team.owner)
    Editor(document).type(0, "Draft\n")
    map_entries_stored_unchecked(document)

    version_restore(version=version, restored_by=team.owner)

    state = document_state_get(document_id=document.pk)
    assert str(doc_from(state).get(TEXT_NAME, type=Text)) == "Intro\nPlan A\n"
    as_map: Doc = Doc()
    as_array: Doc = Doc()
    as_map.apply_update(state)
    as_array.apply_update(state)
    assert dict(as_map.get(TEXT_NAME, type=Map)) == {}
    assert list(as_array.get("notes", type=Array)) == []


# --- History --------------------------------------------------------------------------------


def test_a_named_version_is_the_document_as_it_is_now(document, team):
    Editor(document).type(0, "version one")  # still in the log, not compacted

    version = version_create(document=document, name="Sent to legal", created_by=team.owner)

    assert version.text == "version one"
    assert str(version) == "Sent to legal"


def test_restoring_a_version_is_a_new_change_that_keeps_concurrent_history(document, team):
    alice = Editor(document, team.owner)
    alice.type(0, "Intro\nPlan A\nOutro\n")
    version = version_create(document=document, name="Plan A", created_by=team.owner)
    alice.type(len("Intro\n"), "Plan B\n")
    bob = Editor(document, team.member)  # bob's editor is open on the current text

    version_restore(version=version, restored_by=team.member)

    assert document_text_get(document_id=document.pk) == "Intro\nPlan A\nOutro\n"
    # bob's open editor converges by applying the change, as the socket would send it.
    bob.doc.apply_update(document_state_get(document_id=document.pk))
    assert str(bob.text) == "Intro\nPlan A\nOutro\n"
    assert DocumentVersion.objects.filter(document=document, name__startswith="Before").exists()


def test_an_automatic_version_is_kept_when_a_changed_document_is_compacted(document, settings):
    settings.DOCUMENT_AUTO_VERSION_EVERY_S = 0
    editor = Editor(document)
    editor.type(0, "draft")
    document_compact(document_id=document.pk)
    editor.type(5, " two")
    document_compact(document_id=document.pk)
    document_compact(document_id=document.pk)  # nothing changed: no version

    assert list(document.versions.values_list("text", flat=True)) == ["draft two", "draft"]
    assert all(version.is_automatic for version in document.versions.all())


# --- Pages ----------------------------------------------------------------------------------


def test_members_create_rename_delete_and_restore_documents(client, team):
    client.force_login(team.member)
    response = client.post(
        reverse("document-create", args=[team.workspace.pk]), {"title": "Roadmap"}
    )
    document = Document.objects.get(title="Roadmap")
    assert response.url == reverse("document-detail", args=[document.pk])

    client.post(reverse("document-rename", args=[document.pk]), {"title": "Roadmap 2027"})
    workspace_page = client.get(reverse("workspace-detail", args=[team.workspace.pk]))
    assert "Roadmap 2027" in workspace_page.text

    client.post(reverse("document-delete", args=[document.pk]))
    assert client.get(reverse("document-detail", args=[document.pk])).status_code == 404
    assert (
        "Recently deleted (1)"
        in client.get(reverse("workspace-detail", args=[team.workspace.pk])).text
    )

    client.post(reverse("document-restore", args=[document.pk]))
    assert client.get(reverse("document-detail", args=[document.pk])).status_code == 200


def test_the_document_page_carries_the_editor_and_the_persons_identity(client, team, document):
    client.force_login(team.member)
    page = client.get(reverse("document-detail", args=[document.pk])).text

    assert f'data-socket-path="/ws/documents/{document.pk}/"' in page
    assert 'data-user-name="bob"' in page
    assert 'data-read-only="false"' in page
    assert "dist/document-editor.js" in page


def test_viewers_read_but_cannot_change_documents(client, team, document):
    Membership.objects.filter(user=team.member).update(role=Membership.Role.VIEWER)
    client.force_login(team.member)

    page = client.get(reverse("document-detail", args=[document.pk])).text
    assert 'data-read-only="true"' in page
    for name in ("document-rename", "document-delete"):
        response = client.post(reverse(name, args=[document.pk]), {"title": "x"})
        assert response.status_code == 403
    create = client.post(reverse("document-create", args=[team.workspace.pk]), {"title": "x"})
    assert create.status_code == 403


def test_non_members_get_404_for_every_document_page(client, team, document):
    client.force_login(team.outsider)
    for name in ("document-detail",):
        assert client.get(reverse(name, args=[document.pk])).status_code == 404
    for name in ("document-rename", "document-delete", "document-restore", "document-preview"):
        assert client.post(reverse(name, args=[document.pk])).status_code == 404


def test_the_preview_is_sanitized_markdown(client, team, document):
    client.force_login(team.member)
    text = "# Plan\n<script>alert(1)</script> <img src=x onerror=alert(1)> [x](javascript:alert(1))"

    html = client.post(reverse("document-preview", args=[document.pk]), {"text": text}).text

    assert "<h1>Plan</h1>" in html
    assert "<script" not in html
    assert "<img" not in html
    assert "href" not in html  # the javascript: link is shown as text


def test_owners_make_a_member_a_viewer_and_back(client, team):
    url = reverse("member-role", args=[team.workspace.pk, team.member.pk])
    client.force_login(team.member)
    assert client.post(url, {"role": "viewer"}).status_code == 403  # only owners

    client.force_login(team.owner)
    panel = client.post(url, {"role": "viewer"}, headers={"HX-Request": "true"}).text
    assert Membership.objects.get(user=team.member).role == Membership.Role.VIEWER
    assert "Make member" in panel

    client.post(url, {"role": "member"})
    assert Membership.objects.get(user=team.member).role == Membership.Role.MEMBER
    owner_url = reverse("member-role", args=[team.workspace.pk, team.owner.pk])
    htmx = {"HX-Request": "true"}
    assert "Owners keep their role" in client.post(owner_url, {"role": "viewer"}, headers=htmx).text
    assert "viewer or a member" in client.post(url, {"role": "owner"}, headers=htmx).text


def test_an_editing_session_that_ended_keeps_an_automatic_version_of_its_result(document, settings):
    settings.DOCUMENT_SESSION_QUIET_S = 300
    editor = Editor(document)
    editor.type(0, "first session")
    document_compact(document_id=document.pk)  # the first text is a version at once
    editor.type(13, ", then more")
    document_compact(document_id=document.pk)

    documents_sessions_end()
    assert document.versions.count() == 1, "the session is still going on"

    # Five minutes pass: the first version is older still than the last change.
    document.versions.update(created_at=timezone.now() - timedelta(seconds=400))
    Document.objects.filter(pk=document.pk).update(
        updated_at=timezone.now() - timedelta(seconds=301)
    )
    documents_sessions_end()
    documents_sessions_end()  # once per session

    assert list(document.versions.values_list("text", flat=True)) == [
        "first session, then more",
        "first session",
    ]
    assert all(version.is_automatic for version in document.versions.all())
