"""The assistant as a co-author: its pen in the CRDT, and its writes as members see them."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from pycrdt import Assoc, Doc, Text

from documents import events
from documents.crdt import TEXT_NAME, doc_from, position_offset, text_of
from documents.models import Document, DocumentWrite
from documents.services import document_create
from documents.writes import write_request, write_start, write_stop
from documents.writing import CoAuthor, write_brief
from harness.document_client import text_insert
from jobs.models import ModelJob
from jobs.services import job_stop_requested, jobs_sweep

pytestmark = [pytest.mark.services, pytest.mark.django_db]


def _person_typing(state: bytes) -> tuple[Doc, Text]:
    doc = doc_from(state)
    return doc, doc.get(TEXT_NAME, type=Text)


def _relative(text: Text, index: int, assoc: int = -1) -> dict[str, object]:
    """A position as the browser's editor sends it (``Y.relativePositionToJSON``), at a
    character index (a relative position counts UTF-16 code units, as Yjs does)."""
    units = len(str(text)[:index].encode("utf-16-le")) // 2
    json = dict(text.sticky_index(units, Assoc(assoc)).to_json())
    return {"type": None, "tname": None, "item": None, "assoc": assoc, **json}


@pytest.fixture
def document(team) -> Document:
    return document_create(workspace=team.workspace, title="Launch plan", created_by=team.owner)


def _state(text: str) -> bytes:
    doc: Doc = Doc()
    doc.get(TEXT_NAME, type=Text).insert(0, text)
    return doc.get_update()


def test_the_assistant_writes_at_its_cursor_while_a_person_types_elsewhere():
    start = _state("Title\n\nEnd of plan.\n")
    person, person_text = _person_typing(start)
    author = CoAuthor(start, anchor=_relative(person_text, len("Title\n\n")), head=None)

    updates = [author.write(piece) for piece in ("We ship ", "on Friday", ". ")]
    text_insert(person_text, 0, "DRAFT: ")  # at the same time, before the cursor
    text_insert(person_text, len(str(person_text)), "Signed, bob")  # and after it
    for update in updates:
        person.apply_update(update)

    assert str(person_text) == "DRAFT: Title\n\nWe ship on Friday. End of plan.\nSigned, bob"
    server = doc_from(start, person.get_update())
    assert text_of(server) == str(person_text)


# Positions as Yjs makes them, by hand: pycrdt's own (``sticky_index``) are wrong past a
# character beyond ASCII. Each character's item is (client, its first UTF-16 unit's clock).
WRITER, PERSON = 1, 2


def _written_by(client: int, text: str) -> tuple[bytes, list[dict[str, int]]]:
    """The state of a document ``client`` typed ``text`` into, and each character's item."""
    doc: Doc = Doc(client_id=client)
    doc.get(TEXT_NAME, type=Text).insert(0, text)
    clocks = [len(text[:i].encode("utf-16-le")) // 2 for i in range(len(text))]
    return doc.get_update(), [{"client": client, "clock": clock} for clock in clocks]


def _at(items: list[dict[str, int]], index: int, assoc: int = 0) -> dict[str, object]:
    """``Y.createRelativePositionFromTypeIndex(text, index, assoc)``, as JSON."""
    if assoc < 0:
        return (
            {"item": items[index - 1], "assoc": assoc}
            if index
            else {"tname": TEXT_NAME, "assoc": assoc}
        )
    return (
        {"item": items[index], "assoc": assoc}
        if index < len(items)
        else {"tname": TEXT_NAME, "assoc": assoc}
    )


def test_the_assistant_writes_text_beyond_ascii_where_its_cursor_is_and_says_where_it_is():
    before = "Café ☕ — 📄 plan: "
    start, items = _written_by(WRITER, f"{before}end.")
    person, person_text = _person_typing(start)
    author = CoAuthor(start, anchor=_at(items, len(before)), head=None)
    pieces = ("Ship – on ", "Friday 🚀", ", né ", "")

    for piece in pieces:
        person.apply_update(author.write(piece))
        text_insert(person_text, 0, "¡")  # someone types before the cursor meanwhile

    written = "".join(pieces)
    shown = str(person_text)
    assert shown == "¡" * len(pieces) + f"{before}{written}end."
    cursor = position_offset(person, author.cursor_json())
    assert shown.encode()[:cursor].decode().endswith(written)


@pytest.mark.parametrize("assoc", [0, -1])
def test_a_relative_position_is_read_at_its_character_past_characters_beyond_ascii(assoc):
    start, written = _written_by(WRITER, "a📄b")
    doc: Doc = Doc(client_id=PERSON)
    doc.apply_update(start)
    doc.get(TEXT_NAME, type=Text).insert(0, "Café — ")  # a second block, before the first
    items = _written_by(PERSON, "Café — ")[1] + written
    content = text_of(doc)

    for index in range(len(content) + 1):
        offset = position_offset(doc, _at(items, index, assoc))
        assert content.encode()[:offset].decode() == content[:index], index


def test_rewriting_a_selection_replaces_it_and_keeps_the_rest():
    start = _state("Keep. Make this shorter please. Keep too.")
    person, text = _person_typing(start)
    author = CoAuthor(
        start,
        anchor=_relative(text, len("Keep. ")),
        head=_relative(text, len("Keep. Make this shorter please.")),
    )
    assert author.selected == "Make this shorter please."

    for update in filter(None, [author.opening_update(), author.write("Shorter.")]):
        person.apply_update(update)

    assert str(text) == "Keep. Shorter. Keep too."


def test_without_a_cursor_the_assistant_writes_at_the_end():
    start = _state("Intro\n")
    author = CoAuthor(start, anchor=None, head=None)
    doc = doc_from(start, author.write("More."))
    assert text_of(doc) == "Intro\nMore."


def test_the_brief_shows_the_model_the_cursor_and_the_request():
    start = _state("alpha beta")
    _, text = _person_typing(start)
    author = CoAuthor(start, anchor=_relative(text, len("alpha ")), head=None)

    brief = write_brief(instruction="continue", requester="bob", author=author)

    assert "alpha <<CURSOR>>beta" in brief.prompt
    assert "bob asks: continue" in brief.prompt


@pytest.mark.parametrize(
    "position",
    [
        "end",
        {"item": {"client": 1, "clock": 0}, "assoc": 0, "extra": 1},
        {"item": {"client": -1, "clock": 0}, "assoc": 0},
        {"item": None, "tname": "other", "assoc": 0},
        {"type": {"client": 1, "clock": 0}, "item": None, "assoc": 0},
    ],
)
def test_a_position_that_is_not_a_relative_position_is_refused(document, team, position):
    with pytest.raises(ValidationError, match="cursor position"):
        write_request(document=document, by=team.member, instruction="go", anchor=position)


def test_a_position_in_text_the_server_never_saw_is_refused_when_writing_begins():
    with pytest.raises(ValueError, match="not seen"):
        CoAuthor(_state("abc"), anchor={"item": {"client": 42, "clock": 7}, "assoc": 0}, head=None)


def test_a_write_is_queued_on_the_model_queue(
    document, team, sent_tasks, django_capture_on_commit_callbacks
):
    with pytest.raises(ValidationError, match="Say what"):
        write_request(document=document, by=team.member, instruction="  ")

    with django_capture_on_commit_callbacks(execute=True):
        write = write_request(document=document, by=team.member, instruction="Add a summary")

    assert write.status == DocumentWrite.Status.QUEUED
    assert sent_tasks == [("llm.write_document", [write.pk])]


def test_each_person_has_a_limit_of_waiting_writes(document, team):
    for _ in range(3):
        write_request(document=document, by=team.member, instruction="more")
    with pytest.raises(ValidationError, match="already have 3 requests waiting"):
        write_request(document=document, by=team.member, instruction="more")


def test_any_editor_stops_a_write_queued_or_being_written(document, team):
    queued = write_request(document=document, by=team.member, instruction="one")
    assert write_stop(write=queued, by=team.owner)
    queued.refresh_from_db()
    assert queued.status == DocumentWrite.Status.STOPPED

    writing = write_request(document=document, by=team.member, instruction="two")
    assert write_start(write=writing)
    assert write_stop(write=writing, by=team.owner)
    assert job_stop_requested(writing.job_id) == f"stopped by {team.owner.username}"


def test_editors_are_told_who_stopped_a_write(
    document, team, published, django_capture_on_commit_callbacks
):
    write = write_request(document=document, by=team.member, instruction="one")

    with django_capture_on_commit_callbacks(execute=True):
        write_stop(write=write, by=team.owner)

    told = [event["write"] for event in published.of(events.WriteChanged)]
    assert (told[-1]["status"], told[-1]["by"], told[-1]["stopped_by"]) == (
        "stopped",
        "bob",
        "alice",
    )
    running = write_request(document=document, by=team.member, instruction="two")
    assert events.write_data(running)["stopped_by"] == ""


def test_a_write_whose_worker_went_silent_ends_as_interrupted(document, team):
    write = write_request(document=document, by=team.member, instruction="one")
    write_start(write=write)
    ModelJob.objects.filter(document_write=write).update(
        heartbeat_at=timezone.now() - timedelta(minutes=5)
    )

    interrupted, _ = jobs_sweep(silent_for=timedelta(seconds=30), waiting_for=timedelta(hours=1))
    assert interrupted == [write.job_id]
    write.refresh_from_db()
    assert write.status == DocumentWrite.Status.INTERRUPTED


def test_the_write_view_takes_positions_as_json_and_refuses_viewers(client, team, document):
    client.force_login(team.member)
    url = reverse("document-write", args=[document.pk])

    ok = client.post(
        url, {"instruction": "continue", "anchor": '{"tname": "content", "assoc": -1}'}
    )
    bad = client.post(url, {"instruction": "continue", "anchor": "{not json"})

    assert ok.status_code == 202
    assert bad.status_code == 400
    assert "could not be read" in bad.json()["error"]
    client.force_login(team.outsider)
    assert client.post(url, {"instruction": "x"}).status_code == 404


def test_drafting_from_a_thread_makes_a_document_the_assistant_writes(
    client, team, sent_tasks, django_capture_on_commit_callbacks
):
    client.force_login(team.member)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("thread-draft", args=[team.thread.pk]))

    document = Document.objects.get(title=f"Draft: {team.thread.title}")
    assert response.url == reverse("document-detail", args=[document.pk])
    write = document.writes.get()
    assert write.source_thread == team.thread
    assert sent_tasks == [("llm.write_document", [write.pk])]


def test_the_thread_page_offers_to_draft_a_document(client, team):
    client.force_login(team.member)
    page = client.get(reverse("thread-detail", args=[team.thread.pk])).text
    assert f'action="{reverse("thread-draft", args=[team.thread.pk])}"' in page


def test_a_stale_stop_request_under_the_same_id_does_not_stop_a_new_write(document, team):
    write = write_request(document=document, by=team.member, instruction="one")
    cache.set(f"job-stop:{write.job_id}", "stopped by someone")  # left from another life

    assert write_start(write=write)
    assert job_stop_requested(write.job_id) is None
