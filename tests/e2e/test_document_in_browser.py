"""A shared document in real browsers: co-editing across replicas, viewers, the preview, the CSP."""

import time
from collections.abc import Callable
from itertools import zip_longest
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Page, WebSocket, WebSocketRoute, expect

from documents.crdt import text_replace_update
from documents.models import Document, DocumentWrite
from documents.selectors import document_state_get, document_text_get
from documents.services import (
    document_create,
    document_delete,
    document_update_append,
    version_create,
    version_restore,
)
from harness.live_stack import LiveStack
from tests.factories import MembershipFactory, MessageFactory, UserFactory
from workspace.models import Membership
from workspace.services import membership_remove, membership_role_set

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

CONVERGE_TIMEOUT_S = 20
SCREENSHOT = Path(settings.BASE_DIR) / "var" / "screenshots" / "document.png"

# The text a person sees in the editor, line by line, without the other people's cursors
# (widgets inside the lines that carry their names).
EDITOR_TEXT_JS = """() => Array.from(document.querySelectorAll("#document-editor .cm-line"), (line) => {
  const copy = line.cloneNode(true);
  copy.querySelectorAll(".cm-ySelectionCaret, .cm-widgetBuffer").forEach((node) => node.remove());
  return copy.textContent;
}).join("\\n")"""


@pytest.fixture(scope="module", autouse=True)
def editor_bundle_built() -> None:
    """The editor is a bundle built from static/src, not a committed file: say so if absent."""
    bundle = Path(settings.BASE_DIR) / "static" / "dist" / "document-editor.js"
    sources = (Path(settings.BASE_DIR) / "static" / "src").glob("*.js")
    if not bundle.is_file() or any(
        source.stat().st_mtime > bundle.stat().st_mtime for source in sources
    ):
        pytest.fail(
            f"{bundle} is missing or older than static/src: build it with "
            f"`make {bundle.relative_to(settings.BASE_DIR)}` (`make test` and `make install` do).",
            pytrace=False,
        )


@pytest.fixture
def document(team) -> Document:
    return document_create(workspace=team.workspace, title="Launch plan", created_by=team.owner)


def open_document(page: Page, document_id: int, *, base_url: str = "") -> None:
    """Open the document page and wait until the editor has synced with the server."""
    response = page.goto(f"{base_url}/d/{document_id}/")
    assert response is not None
    assert response.status == 200
    expect(page.locator("#document-status")).to_have_attribute("data-state", "saved")


def editor_text(page: Page) -> str:
    return str(page.evaluate(EDITOR_TEXT_JS))


def type_at_end(page: Page, text: str) -> None:
    page.locator("#document-editor .cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.type(text)


def eventually(page: Page, check: Callable[[], bool], message: Callable[[], str]) -> None:
    """Wait until ``check()``; waiting in ``page`` lets Playwright handle its events meanwhile."""
    deadline = time.monotonic() + CONVERGE_TIMEOUT_S
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(message())
        page.wait_for_timeout(100)


def is_subsequence(part: str, whole: str) -> bool:
    remaining = iter(whole)
    return all(character in remaining for character in part)


def test_two_people_on_two_replicas_type_at_once_and_see_the_text_the_server_stores(
    live_stack: LiveStack, team, document, log_in
):
    alice = log_in(team.owner)
    bob = log_in(team.member)
    with live_stack.another_web_replica() as replica:
        open_document(alice, document.pk)
        open_document(bob, document.pk, base_url=replica.http_url)
        expect(alice.locator("#document-presence")).to_contain_text("bob")
        expect(bob.locator("#document-presence")).to_contain_text("bob (you)")
        expect(bob.locator("#document-presence")).to_contain_text("alice")

        alice_typed = "Alice writes the goals. "
        bob_typed = "Bob lists the risks, one by one. "
        for page in (alice, bob):
            page.locator("#document-editor .cm-content").click()
        # One key each in turn, neither waiting for the other's to arrive: the edits cross.
        for alice_key, bob_key in zip_longest(alice_typed, bob_typed):
            if alice_key:
                alice.keyboard.type(alice_key)
            if bob_key:
                bob.keyboard.type(bob_key)

        def converged() -> bool:
            stored = document_text_get(document_id=document.pk)
            return (
                len(stored) == len(alice_typed) + len(bob_typed)
                and editor_text(alice) == stored
                and editor_text(bob) == stored
            )

        eventually(
            bob,
            converged,
            lambda: (
                f"no convergence: alice sees {editor_text(alice)!r}, bob sees "
                f"{editor_text(bob)!r}, the server has "
                f"{document_text_get(document_id=document.pk)!r}"
            ),
        )
        final = document_text_get(document_id=document.pk)
        assert is_subsequence(alice_typed, final)
        assert is_subsequence(bob_typed, final)
        for page in (alice, bob):
            expect(page.locator("#document-status")).to_have_attribute("data-state", "saved")
        # Each sees the other's cursor, labelled with their name.
        expect(alice.locator(".cm-ySelectionCaret .cm-ySelectionInfo")).to_have_text("bob")
        expect(bob.locator(".cm-ySelectionCaret .cm-ySelectionInfo")).to_have_text("alice")
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        alice.screenshot(path=str(SCREENSHOT))

        bob.reload()
        expect(bob.locator("#document-status")).to_have_attribute("data-state", "saved")
        assert editor_text(bob) == final


def test_a_viewer_sees_the_text_but_cannot_change_it(live_stack, team, document, log_in):
    victor = UserFactory.create(username="victor")
    MembershipFactory.create(user=victor, workspace=team.workspace, role=Membership.Role.VIEWER)
    alice = log_in(team.owner)
    open_document(alice, document.pk)
    type_at_end(alice, "The plan, agreed.")
    eventually(
        alice,
        lambda: document_text_get(document_id=document.pk) == "The plan, agreed.",
        lambda: f"the server has {document_text_get(document_id=document.pk)!r}",
    )

    viewer = log_in(victor)
    to_server: list[WebSocketRoute] = []
    from_server: list[bytes | str] = []

    def through(page_side: WebSocketRoute) -> None:
        server_side = page_side.connect_to_server()
        to_server.append(server_side)

        def relay(frame: bytes | str) -> None:
            from_server.append(frame)
            page_side.send(frame)

        server_side.on_message(relay)

    viewer.route_web_socket("**/ws/documents/**", through)
    open_document(viewer, document.pk)

    assert editor_text(viewer) == "The plan, agreed."
    expect(viewer.locator("#document-ask")).to_be_hidden()  # nor can they ask the assistant
    content = viewer.locator("#document-editor .cm-content")
    expect(content).to_have_attribute("contenteditable", "false")
    content.click()
    viewer.keyboard.press("Control+End")
    viewer.keyboard.type(" Not by me.")
    viewer.keyboard.press("Backspace")
    assert editor_text(viewer) == "The plan, agreed."
    expect(viewer.locator("#document-ask")).to_be_hidden()  # nor can they ask the assistant
    expect(alice.locator("#document-presence")).to_contain_text("victor")
    # The server handles a socket's frames in order, and answers a state vector only once
    # every change it took is stored: once it answers one sent on the viewer's socket after
    # the typing, whatever the viewer's editor sent has been stored or refused.
    answers_before = len(from_server)
    to_server[-1].send(SYNC_STEP1 + b"\x01\x00")  # an empty state vector
    eventually(
        viewer,
        lambda: any(
            isinstance(frame, bytes) and frame.startswith(SYNC_STEP2)
            for frame in from_server[answers_before:]
        ),
        lambda: "the server did not answer the state vector",
    )
    assert document_text_get(document_id=document.pk) == "The plan, agreed."
    assert editor_text(alice) == "The plan, agreed."


HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>'


def test_the_preview_shows_sanitized_markdown_and_never_runs_html_from_the_text(
    live_stack, team, document, log_in
):
    alice = log_in(team.owner)
    open_document(alice, document.pk)

    text = f"# Launch\n\nShip **on time**.\n\n{HOSTILE}\n"
    type_at_end(alice, text)

    preview = alice.locator("#document-preview")
    expect(preview.locator("h1")).to_have_text("Launch")
    expect(preview.locator("strong")).to_have_text("on time")
    alice.wait_for_function("Array.from(document.images).every((image) => image.complete)")
    expect(preview.locator("img, script, [onerror]")).to_have_count(0)
    assert alice.evaluate("typeof window.__pwned") == "undefined"
    eventually(
        alice,
        lambda: document_text_get(document_id=document.pk) == text,
        lambda: f"the server has {document_text_get(document_id=document.pk)!r}",
    )
    assert editor_text(alice) == text


def test_a_document_deleted_while_open_says_so_and_stops_editing(
    live_stack, team, document, log_in
):
    bob = log_in(team.member)
    open_document(bob, document.pk)
    type_at_end(bob, "Draft")
    eventually(
        bob,
        lambda: document_text_get(document_id=document.pk) == "Draft",
        lambda: f"the server has {document_text_get(document_id=document.pk)!r}",
    )

    document_delete(document=document, deleted_by=team.owner)

    error = bob.locator("#document-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("deleted this document")
    expect(bob.locator("#document-editor .cm-content")).to_have_attribute(
        "contenteditable", "false"
    )
    expect(bob.locator("#document-status")).to_have_attribute("data-state", "closed")
    expect(bob.locator("#document-ask")).to_be_hidden()
    assert editor_text(bob) == "Draft"


def test_edits_made_offline_are_kept_and_merge_when_the_connection_is_back(
    live_stack, team, document, log_in
):
    alice = log_in(team.owner)
    bob = log_in(team.member)
    network = {"up": True}
    connections: list[tuple[WebSocketRoute, WebSocketRoute]] = []

    def bobs_socket(page_side: WebSocketRoute) -> None:
        if not network["up"]:
            page_side.close(code=1001)
            return
        connections.append((page_side, page_side.connect_to_server()))

    bob.route_web_socket("**/ws/documents/**", bobs_socket)
    open_document(alice, document.pk)
    open_document(bob, document.pk)

    network["up"] = False
    for page_side, server_side in connections:
        server_side.close()
        page_side.close(code=1001)
    expect(bob.locator("#document-status")).to_have_attribute("data-state", "offline")
    type_at_end(bob, "Bob wrote this offline.")
    type_at_end(alice, "Alice, online. ")
    eventually(
        alice,
        lambda: document_text_get(document_id=document.pk) == "Alice, online. ",
        lambda: f"the server has {document_text_get(document_id=document.pk)!r}",
    )
    assert editor_text(bob) == "Bob wrote this offline."

    network["up"] = True

    def merged() -> bool:
        stored = document_text_get(document_id=document.pk)
        return (
            "Bob wrote this offline." in stored
            and "Alice, online. " in stored
            and editor_text(alice) == stored == editor_text(bob)
        )

    eventually(
        bob,
        merged,
        lambda: (
            f"not merged: alice sees {editor_text(alice)!r}, bob sees {editor_text(bob)!r}, "
            f"the server has {document_text_get(document_id=document.pk)!r}"
        ),
    )
    expect(bob.locator("#document-status")).to_have_attribute("data-state", "saved")


def test_logging_out_elsewhere_stops_the_editor_and_keeps_its_text(
    live_stack, team, document, log_in
):
    bob = log_in(team.member)
    open_document(bob, document.pk)
    type_at_end(bob, "Draft")
    expect(bob.locator("#document-status")).to_have_attribute("data-state", "saved")
    sockets: list[str] = []
    bob.on("websocket", lambda socket: sockets.append(socket.url))

    other_tab = bob.context.new_page()
    other_tab.goto("/")
    with other_tab.expect_navigation():
        other_tab.get_by_role("button", name="Log out").click()

    expect(bob.locator("#document-error")).to_contain_text("You are signed out")
    expect(bob.locator("#document-status")).to_have_attribute("data-state", "closed")
    expect(bob.locator("#document-editor .cm-content")).to_have_attribute(
        "contenteditable", "false"
    )
    assert editor_text(bob) == "Draft"
    bob.wait_for_timeout(3000)  # y-websocket retries within 2.5 s: it must not
    assert sockets == []


def test_someone_removed_from_the_workspace_is_told_and_the_editor_stops(
    live_stack, team, document, log_in
):
    bob = log_in(team.member)
    open_document(bob, document.pk)

    membership_remove(workspace=team.workspace, user=team.member, by=team.owner)

    expect(bob.locator("#document-error")).to_contain_text("no longer a member")
    expect(bob.locator("#document-status")).to_have_attribute("data-state", "closed")
    expect(bob.locator("#document-editor .cm-content")).to_have_attribute(
        "contenteditable", "false"
    )


PASTE_JS = """(size) => {
  const pasted = new DataTransfer();
  pasted.setData("text/plain", "x".repeat(size));
  document.querySelector("#document-editor .cm-content").dispatchEvent(
    new ClipboardEvent("paste", {clipboardData: pasted, bubbles: true, cancelable: true})
  );
}"""


def test_a_paste_larger_than_one_change_may_be_is_refused_with_an_error_and_nothing_is_lost(
    live_stack, team, document, log_in
):
    alice = log_in(team.owner)
    open_document(alice, document.pk)
    type_at_end(alice, "Before. ")
    alice.evaluate(PASTE_JS, 3)  # a paste of a size the server takes goes in
    expect(alice.locator("#document-status")).to_have_attribute("data-state", "saved")
    assert editor_text(alice) == "Before. xxx"

    alice.evaluate(PASTE_JS, settings.DOCUMENT_UPDATE_MAX_BYTES + 1)

    error = alice.locator("#document-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("That change is too large")
    assert editor_text(alice) == "Before. xxx"
    alice.keyboard.type(" After.")  # the editor goes on, and what follows is saved
    eventually(
        alice,
        lambda: document_text_get(document_id=document.pk) == "Before. xxx After.",
        lambda: f"the server has {document_text_get(document_id=document.pk)!r}",
    )
    expect(alice.locator("#document-status")).to_have_attribute("data-state", "saved")
    expect(error).to_be_hidden()
    assert editor_text(alice) == "Before. xxx After."


MODEL_TIMEOUT_MS = 180_000
TEXT_LONGER_THAN_JS = f"(length) => ({EDITOR_TEXT_JS})().length > length"
HEADING = "# Launch plan\n\n"


def ask_the_assistant(page: Page, instruction: str) -> None:
    form = page.locator("#document-ask")
    form.get_by_label("What the assistant should write").fill(instruction)
    form.get_by_role("button", name="Ask the assistant").click()
    expect(form.get_by_label("What the assistant should write")).to_have_value("")


def test_the_assistant_writes_at_the_cursor_while_someone_types_elsewhere_and_both_stay(
    live_stack, team, document, log_in
):
    alice = log_in(team.owner)
    bob = log_in(team.member)
    open_document(alice, document.pk)
    open_document(bob, document.pk)
    type_at_end(alice, HEADING)

    ask_the_assistant(alice, "Write three sentences about launching the product on Friday.")

    write = bob.locator("#document-writes .write")
    expect(write).to_contain_text("alice asked the assistant")
    bob.wait_for_function(TEXT_LONGER_THAN_JS, arg=len(HEADING), timeout=MODEL_TIMEOUT_MS)
    bob.locator("#document-editor .cm-content").click()
    bob.keyboard.press("Control+Home")
    bob.keyboard.type("DRAFT ")  # while the assistant writes further down
    for page in (alice, bob):
        expect(page.locator("#document-writes .write")).to_have_attribute(
            "data-status", "done", timeout=MODEL_TIMEOUT_MS
        )

    written = DocumentWrite.objects.get(document=document).written
    assert written.strip()

    def converged() -> bool:
        stored = document_text_get(document_id=document.pk)
        return editor_text(alice) == stored == editor_text(bob)

    eventually(bob, converged, lambda: f"alice: {editor_text(alice)!r}, bob: {editor_text(bob)!r}")
    stored = document_text_get(document_id=document.pk)
    assert stored.startswith("DRAFT " + HEADING)
    assert written in stored


def test_any_editor_stops_the_assistant_midway_and_what_it_wrote_stays(
    live_stack, team, document, log_in
):
    alice = log_in(team.owner)
    bob = log_in(team.member)
    open_document(alice, document.pk)
    open_document(bob, document.pk)

    ask_the_assistant(alice, "Write a long, detailed essay about release planning.")
    bob.wait_for_function(TEXT_LONGER_THAN_JS, arg=40, timeout=MODEL_TIMEOUT_MS)
    bob.screenshot(path=str(SCREENSHOT.with_name("document-assistant.png")))
    bob.locator("#document-writes .write").get_by_role("button", name="Stop").click()

    for page in (alice, bob):
        write = page.locator("#document-writes .write")
        expect(write).to_have_attribute("data-status", "stopped", timeout=30_000)
        expect(write.locator(".state")).to_have_text("stopped by bob")
        expect(write.get_by_role("button", name="Stop")).to_have_count(0)
    stopped = DocumentWrite.objects.get(document=document)
    assert stopped.status == DocumentWrite.Status.STOPPED
    assert stopped.stopped_by == team.member

    def converged() -> bool:
        stored = document_text_get(document_id=document.pk)
        return len(stored) > 40 and editor_text(alice) == stored == editor_text(bob)

    eventually(bob, converged, lambda: f"alice: {editor_text(alice)!r}, bob: {editor_text(bob)!r}")


def test_restoring_a_version_changes_the_text_in_every_open_editor(
    live_stack, team, document, log_in
):
    alice = log_in(team.owner)
    bob = log_in(team.member)
    open_document(alice, document.pk)
    open_document(bob, document.pk)
    type_at_end(alice, "Ship on Friday.")
    expect(alice.locator("#document-status")).to_have_attribute("data-state", "saved")
    alice.get_by_label("Version name").fill("Friday plan")
    with alice.expect_navigation():
        alice.get_by_role("button", name="Save version").click()
    expect(alice.locator("#document-status")).to_have_attribute("data-state", "saved")
    type_at_end(alice, " No: Monday.")
    eventually(
        bob,
        lambda: editor_text(bob) == "Ship on Friday. No: Monday.",
        lambda: f"bob sees {editor_text(bob)!r}",
    )

    alice.get_by_role("link", name="Friday plan").click()
    with alice.expect_navigation():
        alice.get_by_role("button", name="Restore this version").click()

    eventually(
        bob,
        lambda: editor_text(bob) == "Ship on Friday." == editor_text(alice),
        lambda: f"bob sees {editor_text(bob)!r}, alice {editor_text(alice)!r}",
    )
    assert document_text_get(document_id=document.pk) == "Ship on Friday."
    type_at_end(bob, " Agreed.")  # and editing goes on from there
    eventually(
        alice,
        lambda: document_text_get(document_id=document.pk) == "Ship on Friday. Agreed.",
        lambda: f"the server has {document_text_get(document_id=document.pk)!r}",
    )
    expect(alice.locator("#document-editor")).to_contain_text("Ship on Friday. Agreed.")


def test_a_rename_shows_in_every_open_editor(live_stack, team, document, log_in):
    alice = log_in(team.owner)
    bob = log_in(team.member)
    open_document(alice, document.pk)
    open_document(bob, document.pk)

    alice.get_by_label("Title").fill("Launch plan, final")
    with alice.expect_navigation():
        alice.get_by_role("button", name="Rename").click()

    expect(bob.locator("#document-title")).to_have_text("Launch plan, final")
    expect(bob).to_have_title(f"Launch plan, final · {team.workspace.name} · Roundtable")
    expect(bob.locator("#document-status")).to_have_attribute("data-state", "saved")


def test_a_document_drafted_from_a_thread_opens_with_the_assistant_writing_it(
    live_stack, team, log_in
):
    MessageFactory.create(thread=team.thread, author=team.owner, body="We ship on Friday.")
    MessageFactory.create(thread=team.thread, author=team.member, body="I will write the notes.")
    alice = log_in(team.owner)
    alice.goto(f"/t/{team.thread.pk}/")

    with alice.expect_navigation():
        alice.get_by_role("button", name="Draft a document").click()

    draft = Document.objects.get(title="Draft: Release planning")
    assert alice.url.endswith(f"/d/{draft.pk}/")
    write = alice.locator("#document-writes .write")
    expect(write).to_contain_text("alice asked the assistant")
    expect(write).to_have_attribute("data-status", "done", timeout=MODEL_TIMEOUT_MS)
    eventually(
        alice,
        lambda: editor_text(alice) == document_text_get(document_id=draft.pk) != "",
        lambda: f"alice sees {editor_text(alice)!r}",
    )


def text_set(document: Document, text: str) -> None:
    """Change the document's text on the server, as edits (deleting what is no longer there)."""
    update = text_replace_update(document_state_get(document_id=document.pk), text)
    document_update_append(document_id=document.pk, update=update, author=None, sender="test")


SYNC_STEP1, SYNC_STEP2, SYNC_UPDATE = b"\x00\x00", b"\x00\x01", b"\x00\x02"


def test_a_viewer_opening_a_restored_document_sends_no_change_and_is_told_of_none(
    live_stack, team, document, log_in
):
    text_set(document, "Ship on Friday.\n")
    friday = version_create(document=document, name="Friday plan", created_by=team.owner)
    text_set(document, "Ship on Friday.\nNo: Monday.\n")
    version_restore(version=friday, restored_by=team.owner)  # a deletion in its history
    victor = UserFactory.create(username="victor")
    MembershipFactory.create(user=victor, workspace=team.workspace, role=Membership.Role.VIEWER)
    viewer = log_in(victor)
    sent: list[bytes] = []
    server_state_vectors: list[bytes] = []

    def on_sent(frame: bytes | str) -> None:
        if isinstance(frame, bytes):
            sent.append(frame)

    def on_received(frame: bytes | str) -> None:
        if isinstance(frame, bytes) and frame.startswith(SYNC_STEP1):
            server_state_vectors.append(frame)

    def watch(socket: WebSocket) -> None:
        socket.on("framesent", on_sent)
        socket.on("framereceived", on_received)

    viewer.on("websocket", watch)
    open_document(viewer, document.pk)
    assert editor_text(viewer) == "Ship on Friday.\n"

    # The server's state vector comes on joining, in answer to the editor's own, and again
    # at its periodic resync (10 s): an editor answers each with what the server lacks, and
    # the server handles a socket's frames in order, so any answer was refused by the third.
    eventually(
        viewer,
        lambda: len(server_state_vectors) >= 3,
        lambda: f"the server's state vector came {len(server_state_vectors)} times",
    )
    assert not [frame for frame in sent if frame.startswith((SYNC_STEP2, SYNC_UPDATE))]
    expect(viewer.locator("#document-error")).to_be_hidden()
    expect(viewer.locator("#document-status")).to_have_text("Connected · read only")


def test_made_viewer_and_member_again_while_the_page_is_open_the_page_follows_at_once(
    live_stack, team, document, log_in
):
    bob = log_in(team.member)
    open_document(bob, document.pk)
    type_at_end(bob, "Bob's draft.")
    editors_controls = [
        bob.get_by_role("button", name="Ask the assistant"),
        bob.get_by_role("button", name="Save version"),
        bob.get_by_role("button", name="Rename"),
        bob.get_by_role("button", name="Delete document"),
    ]
    content = bob.locator("#document-editor .cm-content")

    membership_role_set(workspace=team.workspace, user=team.member, role=Membership.Role.VIEWER)

    expect(content).to_have_attribute("contenteditable", "false")
    for control in editors_controls:
        expect(control).to_be_hidden()
    expect(bob.get_by_text("You are a viewer in")).to_be_visible()
    expect(bob.locator("#document-error")).to_contain_text("your role in this workspace is viewer")

    membership_role_set(workspace=team.workspace, user=team.member, role=Membership.Role.MEMBER)

    expect(content).to_have_attribute("contenteditable", "true")
    for control in editors_controls:
        expect(control).to_be_visible()
    expect(bob.get_by_text("You are a viewer in")).to_be_hidden()
    expect(bob.locator("#document-error")).to_be_hidden()
    expect(bob.locator("#document-notice")).to_have_text(
        "You can edit this document again: your role in this workspace is member."
    )
    type_at_end(bob, " Edited again, no reload.")
    eventually(
        bob,
        lambda: (
            document_text_get(document_id=document.pk) == "Bob's draft. Edited again, no reload."
        ),
        lambda: f"the server has {document_text_get(document_id=document.pk)!r}",
    )
    expect(bob.locator("#document-status")).to_have_attribute("data-state", "saved")


def test_edits_made_while_redis_is_away_merge_when_it_is_back(
    live_stack: LiveStack, team, document, log_in, redis_server
):
    alice, bob = log_in(team.owner), log_in(team.member)
    open_document(alice, document.pk)
    open_document(bob, document.pk)

    redis_server.stop()
    try:
        for page in (alice, bob):
            status = page.locator("#document-status")
            expect(status).to_have_attribute("data-state", "offline")
            expect(status).to_contain_text("Reconnecting: your edits are kept")
        type_at_end(alice, "Alice wrote this while away. ")
        type_at_end(bob, "Bob wrote this while away too. ")
    finally:
        redis_server.start()

    def merged() -> bool:
        stored = document_text_get(document_id=document.pk)
        return (
            "Alice wrote this while away. " in stored
            and "Bob wrote this while away too. " in stored
            and editor_text(alice) == editor_text(bob) == stored
        )

    eventually(
        alice,
        merged,
        lambda: (
            f"alice sees {editor_text(alice)!r}, bob sees {editor_text(bob)!r}, "
            f"the server has {document_text_get(document_id=document.pk)!r}"
        ),
    )
    for page in (alice, bob):
        expect(page.locator("#document-status")).to_have_attribute("data-state", "saved")
