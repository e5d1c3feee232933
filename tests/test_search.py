"""One search box across a workspace's messages, documents and sources, for its members.

Runs on whichever database the suite runs on (FTS5 on SQLite, text search on PostgreSQL).
"""

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from chat.models import Message
from documents.models import Document
from knowledge.models import Source
from knowledge.services import source_add_file, source_ingest
from search.selectors import snippet_html, workspace_search

from .conftest import Team
from .factories import MessageFactory, ThreadFactory, WorkspaceFactory, table_rebuilt_on_sqlite

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _client(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


@pytest.fixture
def material(team: Team, sent_tasks: list) -> dict[str, object]:
    said = MessageFactory.create(
        thread=team.thread, author=team.member, body="We launch the orbital widget in March."
    )
    MessageFactory.create(thread=team.thread, author=team.owner, body="Lunch is at noon.")
    plan = Document.objects.create(
        workspace=team.workspace,
        title="Launch plan",
        text="Marketing starts two weeks before the widget ships.",
        created_by=team.owner,
    )
    source = source_add_file(
        workspace=team.workspace,
        added_by=team.owner,
        name="spec.md",
        content_type="",
        data=b"# Widget\n\nThe orbital widget draws 42 milliwatts in standby.",
    )
    source_ingest(source_id=source.pk, generation=source.generation)
    return {"message": said, "document": plan, "source": Source.objects.get(pk=source.pk)}


def test_one_query_finds_messages_documents_and_passages(team: Team, material: dict) -> None:
    results = workspace_search(workspace=team.workspace, query="widget")
    (message,) = results.messages
    (document,) = results.documents
    (passage,) = results.passages
    assert message.title == "Release planning"
    assert message.where == "bob"
    assert "<mark>widget</mark>" in message.snippet
    assert message.url == reverse("search-message", args=[material["message"].pk])
    assert document.url == reverse("document-detail", args=[material["document"].pk])
    assert "<mark>widget</mark>" in document.snippet
    source = material["source"]
    chunk = source.chunks.get()
    assert passage.url == reverse("source-passage", args=[source.pk, chunk.pk])
    assert passage.title == "spec.md"
    assert passage.where == "Widget"


def test_every_word_must_be_there(team: Team, material: dict) -> None:
    results = workspace_search(workspace=team.workspace, query="widget march")
    assert [hit.kind for hit in results.messages] == ["message"]
    assert results.documents == []
    assert results.passages == []
    assert workspace_search(workspace=team.workspace, query="lunch").messages[0].where == "alice"


def test_a_search_stays_in_its_workspace_and_skips_deleted_things(
    team: Team, material: dict
) -> None:
    elsewhere = ThreadFactory.create(workspace=WorkspaceFactory.create())
    MessageFactory.create(thread=elsewhere, body="The secret widget of another team.")
    Message.objects.filter(pk=material["message"].pk).update(body="", deleted_at=timezone.now())
    Document.objects.filter(pk=material["document"].pk).update(deleted_at=timezone.now())

    results = workspace_search(workspace=team.workspace, query="widget")
    assert results.messages == []
    assert results.documents == []
    assert len(results.passages) == 1


def test_a_message_changed_by_an_update_is_found_by_its_new_words(
    team: Team, material: dict
) -> None:
    """Answers grow through queryset updates while they stream: the index follows them."""
    Message.objects.filter(pk=material["message"].pk).update(body="We postpone to April.")
    assert workspace_search(workspace=team.workspace, query="march").messages == []
    assert len(workspace_search(workspace=team.workspace, query="april").messages) == 1


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("widget AND (", 1),  # "and" is a stop word: "widget"
        ('"widget', 1),
        ("widget*", 1),
        ("-widget", 1),
        ("widget OR", 1),
        ("NEAR(widget", 0),  # the words "near" and "widget", and no message has both
        ("body:widget", 0),
    ],
)
def test_search_syntax_is_searched_for_not_obeyed(
    team: Team, material: dict, query: str, found: int
) -> None:
    results = workspace_search(workspace=team.workspace, query=query)
    assert len(results.messages) == found


def test_snippets_are_escaped_and_only_the_marks_are_html(team: Team, sent_tasks: list) -> None:
    MessageFactory.create(
        thread=team.thread, author=team.member, body='<script>alert("x")</script> rollout today'
    )
    (hit,) = workspace_search(workspace=team.workspace, query="rollout").messages
    assert "<script" not in hit.snippet  # escaped (SQLite) or left out (ts_headline)
    assert "<mark>rollout</mark>" in hit.snippet
    assert snippet_html("a\x02<b>\x03c") == "a<mark>&lt;b&gt;</mark>c"


def test_the_search_page_shows_each_group(team: Team, material: dict) -> None:
    page = _client(team.member).get(
        reverse("workspace-search", args=[team.workspace.pk]), {"q": "widget"}
    )
    html = page.content.decode()
    assert page.status_code == 200
    for group in ("found-messages", "found-documents", "found-passages"):
        assert f'id="{group}"' in html
    assert "<mark>widget</mark>" in html
    assert "?q=widget" in html  # the found message's page links back to the search
    empty = _client(team.member).get(
        reverse("workspace-search", args=[team.workspace.pk]), {"q": "zebra"}
    )
    assert 'id="no-results"' in empty.content.decode()


def test_outsiders_cannot_search_or_open_a_found_message(team: Team, material: dict) -> None:
    client = _client(team.outsider)
    url = reverse("workspace-search", args=[team.workspace.pk])
    assert client.get(url, {"q": "widget"}).status_code == 404
    found = reverse("search-message", args=[material["message"].pk])
    assert client.get(found).status_code == 404


def test_a_found_message_opens_among_its_neighbours(team: Team, sent_tasks: list) -> None:
    messages = [
        MessageFactory.create(thread=team.thread, author=team.owner, body=f"Note {n}")
        for n in range(20)
    ]
    page = _client(team.member).get(reverse("search-message", args=[messages[10].pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert f'id="message-{messages[10].pk}" class="message found"' in html
    shown = [m for m in messages if f'id="message-{m.pk}"' in html]
    assert shown == messages[5:16]


def test_the_workspace_page_has_the_search_box(team: Team) -> None:
    page = _client(team.member).get(reverse("workspace-detail", args=[team.workspace.pk]))
    assert reverse("workspace-search", args=[team.workspace.pk]) in page.content.decode()


def test_the_indexes_are_repaired_by_migrate_after_a_table_rebuild_dropped_their_triggers(
    team: Team, material: dict
) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's indexes are expression indexes, which survive table changes")
    table_rebuilt_on_sqlite("chat_message")
    MessageFactory.create(thread=team.thread, author=team.owner, body="Okapi sighted.")
    assert workspace_search(workspace=team.workspace, query="okapi").messages == []

    call_command("migrate", verbosity=0)

    assert len(workspace_search(workspace=team.workspace, query="okapi").messages) == 1


def test_postgresql_ranks_only_the_newest_matches_and_sqlite_all(
    team: Team, sent_tasks: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    from search import selectors

    monkeypatch.setattr(selectors, "PG_RANK_WINDOW", 1)
    older = MessageFactory.create(thread=team.thread, author=team.owner, body="zebra crossing")
    newer = MessageFactory.create(thread=team.thread, author=team.owner, body="a zebra")
    found = [hit.url for hit in workspace_search(workspace=team.workspace, query="zebra").messages]
    newest = reverse("search-message", args=[newer.pk])
    if connection.vendor == "postgresql":
        assert found == [newest]
    else:
        assert sorted(found) == sorted([newest, reverse("search-message", args=[older.pk])])


@pytest.fixture
def zephyr(team: Team, sent_tasks: list) -> None:
    MessageFactory.create(
        thread=team.thread, author=team.member, body="The Zephyr release ships on Friday."
    )
    Document.objects.create(
        workspace=team.workspace, title="Rollout", text="Zephyr goes out in two waves.",
        created_by=team.owner,
    )  # fmt: skip
    source = source_add_file(
        workspace=team.workspace, added_by=team.owner, name="notes.md", content_type="",
        data=b"# Notes\n\nZephyr needs the new firmware first.",
    )  # fmt: skip
    source_ingest(source_id=source.pk, generation=source.generation)


@pytest.mark.parametrize("typed", ["zephy", "Zeph", "zephyr", "ZEPHYR"])
def test_a_word_is_found_by_its_beginning_as_people_type_it(
    team: Team, zephyr: None, typed: str
) -> None:
    results = workspace_search(workspace=team.workspace, query=typed)
    assert [len(results.messages), len(results.documents), len(results.passages)] == [1, 1, 1]
    for hit in (*results.messages, *results.documents, *results.passages):
        assert "<mark>Zephyr</mark>" in hit.snippet


def test_every_word_may_be_the_beginning_of_one_and_all_must_be_there(
    team: Team, zephyr: None
) -> None:
    assert len(workspace_search(workspace=team.workspace, query="zeph relea").messages) == 1
    assert len(workspace_search(workspace=team.workspace, query="zephy released").messages) == 1
    assert workspace_search(workspace=team.workspace, query="zephy waves").messages == []
    assert len(workspace_search(workspace=team.workspace, query="zephy waves").documents) == 1


def test_a_word_of_two_letters_matches_whole_words_only(team: Team, zephyr: None) -> None:
    assert workspace_search(workspace=team.workspace, query="ze").count == 0
    assert workspace_search(workspace=team.workspace, query="fr").count == 0


@pytest.mark.parametrize("typed", ["zephy*", "zephy:*", "'zephy' | ! &", '"zephy" OR', "zephy\\"])
def test_prefix_search_obeys_no_syntax_of_either_database(
    team: Team, zephyr: None, typed: str
) -> None:
    assert len(workspace_search(workspace=team.workspace, query=typed).messages) == 1
