"""Retrieval: the database's full-text search and vector search, fused, per workspace.

Runs on whichever database the suite runs on: FTS5 on SQLite, text search on PostgreSQL.
The corpus is small and labelled: each question has one passage that answers it.
"""

from collections.abc import Iterator

import numpy as np
import pytest
from django.contrib.auth.models import User

from knowledge.embedding import embedder_get
from knowledge.models import Chunk, Source
from knowledge.search import fts5_any, query_words, rank_fuse, text_search, vector_search
from knowledge.selectors import Passage, passages_relevant, retrieve
from knowledge.services import source_add_file, source_ingest
from workspace.models import Workspace

from .conftest import Team
from .factories import UserFactory, WorkspaceFactory, table_rebuilt_on_sqlite

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

HANDBOOK = """# Handbook

## Holidays

Everyone gets twenty-seven days of paid leave each year, plus public holidays.

## Expenses

Submit receipts within thirty days; the finance team reimburses them monthly.

## Security

Laptops must use full-disk encryption and a screen lock after five minutes.
"""

SPEC = """# Widget specification

## Power

The widget draws at most 42 milliwatts in standby mode and 3 watts when active.

## Thermal

Operating temperature ranges from minus 20 to plus 85 degrees Celsius.

## Part numbers

The replacement battery is part XK-4471; the charger is part ZQ-0093.
"""

MENU = """# Cafeteria

## Monday

Lentil soup, grilled vegetables and rice pudding.

## Friday

Fish and chips with mushy peas, and apple crumble for dessert.
"""

# question -> the heading of the passage that answers it
LABELLED = {
    "How many vacation days do employees get?": "Handbook › Holidays",
    "how do I get my money back for a business purchase": "Handbook › Expenses",
    "What must be done to protect a laptop?": "Handbook › Security",
    "How much electricity does it use when idle?": "Widget specification › Power",
    "how hot can the device get": "Widget specification › Thermal",
    "XK-4471": "Widget specification › Part numbers",
    "which day is there crumble for dessert": "Cafeteria › Friday",
    "soup": "Cafeteria › Monday",
}


def _add(workspace: Workspace, name: str, text: str, by: User) -> Source:
    source = source_add_file(
        workspace=workspace, added_by=by, name=name, content_type="", data=text.encode()
    )
    source_ingest(source_id=source.pk, generation=source.generation)
    source.refresh_from_db()
    assert source.status == Source.Status.READY, source.error
    return source


@pytest.fixture
def corpus(team: Team, sent_tasks: list) -> dict[str, Source]:
    return {
        name: _add(team.workspace, f"{name}.md", text, team.member)
        for name, text in (("handbook", HANDBOOK), ("spec", SPEC), ("menu", MENU))
    }


@pytest.fixture
def embedder_unloadable(settings) -> Iterator[None]:
    """An embedding model that cannot be loaded: any question embedded fails the call."""
    settings.KNOWLEDGE_EMBEDDING_MODEL_PATH = "/nowhere/no-such-embedder.gguf"
    embedder_get.cache_clear()
    yield
    embedder_get.cache_clear()


def test_a_workspace_without_sources_is_not_searched_and_its_question_not_embedded(
    team: Team, embedder_unloadable: None, django_assert_num_queries
) -> None:
    with django_assert_num_queries(1):  # does it have any passage? no: done
        assert retrieve(workspace=team.workspace, query="what voltage does it use?", k=5) == []


def test_chosen_sources_without_passages_are_not_searched(
    team: Team, corpus: dict, embedder_unloadable: None, django_assert_num_queries
) -> None:
    pending = source_add_file(
        workspace=team.workspace, added_by=team.member, name="later.md", content_type="",
        data=b"# Later\n\nNot read yet.",
    )  # fmt: skip
    with django_assert_num_queries(1):
        assert retrieve(workspace=team.workspace, query="soup", k=5, source_ids=[pending.pk]) == []


def test_each_labelled_question_finds_its_passage_first(team: Team, corpus: dict) -> None:
    misses = {}
    for question, heading in LABELLED.items():
        passages = retrieve(workspace=team.workspace, query=question, k=5)
        found = [p.locator.get("heading") for p in passages]
        if not found or found[0] != heading:
            misses[question] = found[:3]
    assert misses == {}


OFF_TOPIC = (
    "write a python function that reverses a list",
    "what is the capital of Australia",
    "how do black holes form",
    "thanks, that's all for now",
)


def test_a_question_about_something_else_finds_passages_but_none_relevant(
    team: Team, corpus: dict, settings
) -> None:
    for question in OFF_TOPIC:
        found = retrieve(workspace=team.workspace, query=question, k=6)
        assert found, "retrieval always finds the nearest passages"
        assert passages_relevant(found) == [], question
    for question in ("which day is there crumble for dessert", "XK-4471", "soup"):
        relevant = passages_relevant(retrieve(workspace=team.workspace, query=question, k=6))
        assert LABELLED[question] in [p.locator.get("heading") for p in relevant], question

    settings.KNOWLEDGE_RELEVANCE_THRESHOLD = -1.0  # every passage relevant
    found = retrieve(workspace=team.workspace, query=OFF_TOPIC[0], k=6)
    assert passages_relevant(found) == found


def _scored(similarity: float | None, text_rank: int | None) -> Passage:
    return Passage(
        chunk_id=1, source_id=1, source_title="t", source_kind="file", url="", locator={},
        locator_label="", text="", score=0.0, similarity=similarity, text_rank=text_rank,
    )  # fmt: skip


def test_a_passage_among_the_best_word_matches_needs_less_similarity(settings) -> None:
    settings.KNOWLEDGE_RELEVANCE_THRESHOLD = 0.3  # the static embedder's allowance: 0.07
    kept = passages_relevant([
        _scored(0.3, None), _scored(0.25, 1), _scored(0.25, 2),
        _scored(0.25, 3), _scored(0.2, 1), _scored(None, 1), _scored(None, None),
    ])  # fmt: skip
    assert [(p.similarity, p.text_rank) for p in kept] == [
        (0.3, None), (0.25, 1), (0.25, 2), (None, 1),
    ], "a passage not embedded yet is judged by its words"  # fmt: skip


def test_a_passage_says_where_it_comes_from(team: Team, corpus: dict) -> None:
    (passage, *_) = retrieve(workspace=team.workspace, query="standby milliwatts", k=1)
    assert passage.source_id == corpus["spec"].pk
    assert passage.source_title == "spec.md"
    assert passage.locator == {"heading": "Widget specification › Power"}
    assert passage.locator_label == "Widget specification › Power"
    assert "42 milliwatts" in passage.text
    assert passage.score > 0


def test_vector_search_finds_a_passage_that_shares_no_word_with_the_question(
    team: Team, corpus: dict
) -> None:
    question = "How much electricity does it use when idle?"
    power = Chunk.objects.get(text__contains="42 milliwatts")
    assert power.pk not in text_search(workspace_id=team.workspace.pk, query=question, limit=10)
    from knowledge.search import query_embed

    nearest = vector_search(
        workspace_id=team.workspace.pk, query_vector=query_embed(question), limit=3
    )
    assert nearest[0] == power.pk


def test_full_text_search_finds_an_exact_part_number(team: Team, corpus: dict) -> None:
    found = text_search(workspace_id=team.workspace.pk, query="ZQ-0093", limit=3)
    assert Chunk.objects.get(pk=found[0]).locator["heading"].endswith("Part numbers")


@pytest.mark.parametrize(
    "query",
    [
        "foo AND (",
        '"unbalanced',
        "NEAR(soup",
        "soup*",
        "-soup",
        "text:soup",
        "^soup",
        "soup OR",
        "((()))",
        "'; DROP TABLE knowledge_chunk; --",
        "\x00soup",
        "café & <lunch> | !peas",
    ],
)
def test_search_syntax_in_the_question_is_searched_for_not_obeyed(
    team: Team, corpus: dict, query: str
) -> None:
    passages = retrieve(workspace=team.workspace, query=query, k=3)
    assert isinstance(passages, list)
    assert Chunk.objects.count() == 8


def test_a_question_without_words_finds_nothing_by_text() -> None:
    assert query_words("?!( )*") == []
    assert fts5_any(query_words('foo AND ("x')) == '"foo" OR "x"'
    assert fts5_any(query_words("how AND the")) == '"how" OR "and" OR "the"'


def test_retrieval_keeps_to_the_workspace(team: Team, corpus: dict) -> None:
    other = WorkspaceFactory.create()
    _add(other, "secret.md", "# Secret\n\nThe vault code for soup is 8812.", UserFactory.create())
    for query in ("vault code 8812", "soup"):
        passages = retrieve(workspace=team.workspace, query=query, k=10)
        assert all(p.source_id in {s.pk for s in corpus.values()} for p in passages)


def test_retrieval_can_be_limited_to_some_sources(team: Team, corpus: dict) -> None:
    menu = corpus["menu"]
    passages = retrieve(workspace=team.workspace, query="battery part", k=5, source_ids=[menu.pk])
    assert passages
    assert {p.source_id for p in passages} == {menu.pk}
    assert retrieve(workspace=team.workspace, query="battery", k=5, source_ids=[]) == []


def test_vectors_of_another_model_are_not_compared(team: Team, corpus: dict) -> None:
    Chunk.objects.filter(source=corpus["spec"]).update(
        embedding_model="gguf/other.gguf", dimension=4, embedding=np.ones(4, np.float32).tobytes()
    )
    from knowledge.search import query_embed

    nearest = vector_search(
        workspace_id=team.workspace.pk, query_vector=query_embed("standby power"), limit=10
    )
    assert not set(nearest) & set(corpus["spec"].chunks.values_list("id", flat=True))
    # still found by its words
    passages = retrieve(workspace=team.workspace, query="standby milliwatts", k=3)
    assert corpus["spec"].pk in {p.source_id for p in passages}


def test_a_source_added_later_is_found_at_once(team: Team, corpus: dict) -> None:
    retrieve(workspace=team.workspace, query="giraffes", k=3)  # vectors now cached
    zoo = _add(team.workspace, "zoo.md", "# Zoo\n\nThe giraffes are fed at noon.", team.owner)
    (passage, *_) = retrieve(workspace=team.workspace, query="when are giraffes fed", k=1)
    assert passage.source_id == zoo.pk


def test_removed_passages_are_not_found(team: Team, corpus: dict) -> None:
    menu_id = corpus["menu"].pk
    corpus["menu"].delete()
    for query in ("soup", "fish and chips"):
        passages = retrieve(workspace=team.workspace, query=query, k=10)
        assert passages
        assert menu_id not in {p.source_id for p in passages}


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    fused = rank_fuse([1, 2, 3], [3, 4, 1])
    assert [chunk_id for chunk_id, _ in fused][:2] == [1, 3]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 63)
    assert [chunk_id for chunk_id, _ in rank_fuse([5, 6], [])] == [5, 6]


def test_the_full_text_index_is_repaired_by_migrate_after_a_table_rebuild_dropped_its_triggers(
    team: Team, corpus: dict
) -> None:
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's index is a generated column's, which survives table changes")
    table_rebuilt_on_sqlite("knowledge_chunk")
    late = _add(team.workspace, "late.md", "# Late\n\nThe okapi arrives on Tuesday.", team.owner)
    assert text_search(workspace_id=team.workspace.pk, query="okapi", limit=3) == []

    call_command("migrate", verbosity=0)

    (found,) = text_search(workspace_id=team.workspace.pk, query="okapi", limit=3)
    assert Chunk.objects.get(pk=found).source_id == late.pk
    _add(team.workspace, "later.md", "# Later\n\nThe tapir arrives on Friday.", team.owner)
    assert len(text_search(workspace_id=team.workspace.pk, query="tapir", limit=3)) == 1


def test_full_text_search_leaves_out_words_too_common_to_rank_cheaply(
    team: Team, corpus: dict, settings: object
) -> None:
    from django.db import connection

    from knowledge.search import selective_words, word_frequencies

    settings.KNOWLEDGE_FTS_MAX_MATCHES = 2  # type: ignore[attr-defined]
    word_frequencies.clear()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # its counts are the planner's estimates, from
            cursor.execute("ANALYZE knowledge_chunk")  # statistics autovacuum keeps current
        # "the" is in three passages, over the budget by itself; "battery" in one; "okapi" none
        # (kept or not: PostgreSQL's estimate of a word is never 0, and it costs nothing).
        assert selective_words(cursor, ["the", "battery", "okapi"])[0] == "battery"
        assert "the" not in selective_words(cursor, ["the", "battery", "okapi"])
        assert selective_words(cursor, ["the"]) == []
        settings.KNOWLEDGE_FTS_MAX_MATCHES = 1  # type: ignore[attr-defined]
        # the rarest first, ties in the question's order, until the budget is spent
        assert selective_words(cursor, ["standby", "battery"]) == ["standby"]
    found = text_search(workspace_id=team.workspace.pk, query="standby battery", limit=5)
    assert [Chunk.objects.get(pk=i).locator["heading"] for i in found] == [
        "Widget specification › Power"
    ]


def test_the_cached_vectors_follow_a_removed_source_at_once(team: Team, corpus: dict) -> None:
    from knowledge.embedding import embedding_model_name
    from knowledge.search import vector_cache
    from knowledge.services import source_remove

    handbook_ids = set(corpus["handbook"].chunks.values_list("id", flat=True))
    before = vector_cache.get(team.workspace.pk, embedding_model_name())
    assert handbook_ids <= set(before.ids.tolist())

    source_remove(source=corpus["handbook"])  # the newest id is unchanged: the version tells
    after = vector_cache.get(team.workspace.pk, embedding_model_name())
    assert after is not before
    assert not handbook_ids & set(after.ids.tolist())


def test_a_search_knows_its_cached_vectors_are_current_without_reading_any_passage(
    team: Team, corpus: dict
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from knowledge.embedding import embedding_model_name
    from knowledge.search import vector_cache

    vector_cache.clear()
    first = vector_cache.get(team.workspace.pk, embedding_model_name())
    with CaptureQueriesContext(connection) as queries:
        again = vector_cache.get(team.workspace.pk, embedding_model_name())
    assert again is first
    [lookup] = queries.captured_queries
    assert "knowledge_passagesversion" in lookup["sql"]
    assert "knowledge_chunk" not in lookup["sql"]


def _cached_ids(workspace: Workspace) -> set[int]:
    from knowledge.embedding import embedding_model_name
    from knowledge.search import vector_cache

    return set(vector_cache.get(workspace.pk, embedding_model_name()).ids.tolist())


def test_the_cached_vectors_follow_a_reindexed_source(team: Team, corpus: dict) -> None:
    from knowledge.services import source_reindex

    menu = corpus["menu"]
    old = set(menu.chunks.values_list("id", flat=True))
    assert old <= _cached_ids(team.workspace)
    source_reindex(source=menu)
    source_ingest(source_id=menu.pk, generation=menu.generation)
    new = set(menu.chunks.values_list("id", flat=True))
    assert new
    assert not new & old
    assert new <= _cached_ids(team.workspace)
    assert not old & _cached_ids(team.workspace)


def test_the_cached_vectors_drop_the_passages_of_an_address_that_changed(
    team: Team, corpus: dict
) -> None:
    from knowledge.search import vector_cache
    from knowledge.services import source_add_url, source_url_change

    page = source_add_url(workspace=team.workspace, added_by=team.member, url="https://a.test/")
    Chunk.objects.filter(source=corpus["menu"]).update(source=page)  # as if read from there
    vector_cache.clear()
    ids = set(page.chunks.values_list("id", flat=True))
    assert ids <= _cached_ids(team.workspace)
    source_url_change(source=page, url="https://b.test/")
    assert not ids & _cached_ids(team.workspace)


def test_passages_deleted_in_the_admin_leave_the_cached_vectors_at_once(
    team: Team, corpus: dict
) -> None:
    from knowledge.embedding import embedding_model_name
    from knowledge.search import vector_cache
    from knowledge.services import chunks_delete

    spec_ids = set(corpus["spec"].chunks.values_list("id", flat=True))
    assert spec_ids <= set(vector_cache.get(team.workspace.pk, embedding_model_name()).ids.tolist())
    chunks_delete(chunks=Chunk.objects.filter(source=corpus["spec"]))
    after = vector_cache.get(team.workspace.pk, embedding_model_name())
    assert not spec_ids & set(after.ids.tolist())
