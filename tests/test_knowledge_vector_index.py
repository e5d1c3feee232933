"""The approximate vector index of large workspaces: it agrees with exact search, follows the
passages as sources come, go and are re-embedded, and is rebuilt when its file is missing or
unreadable. Tests that need a workspace lower KNOWLEDGE_VECTOR_INDEX_FROM to use it at once."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.utils import timezone

from knowledge.embedding import embedding_model_name
from knowledge.models import Chunk, Source
from knowledge.search import VectorCache, WorkspaceVectors, vector_cache, vector_search
from knowledge.services import chunks_reembed, passages_changed, source_remove
from knowledge.vector_index import VectorIndex, index_path
from workspace.models import Workspace

from . import test_knowledge_retrieval as retrieval
from .conftest import Team
from .factories import WorkspaceFactory
from .test_knowledge_retrieval import _add

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

corpus = retrieval.corpus  # the labelled sources, as a fixture here too


def _clustered(rng: np.random.Generator, count: int, dimension: int = 32) -> np.ndarray:
    topics = rng.standard_normal((20, dimension))
    vectors = topics[rng.integers(0, 20, count)] + rng.standard_normal((count, dimension))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _exact_nearest(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int) -> list:
    return ids[np.argsort(-(vectors @ query), kind="stable")[:k]].tolist()


@pytest.mark.django_db(transaction=False)
def test_the_index_finds_the_nearest_vectors_as_exact_search_does() -> None:
    rng = np.random.default_rng(3)
    vectors = _clustered(rng, 5000)
    ids = np.arange(100, 5100, dtype=np.int64)
    index = VectorIndex.build(ids=ids, source_ids=ids % 7, vectors=vectors, version=1)
    assert index._index.nlist > 8  # not every list probed: an approximate search

    found = [index.search(vectors[i], 10)[0].tolist() for i in range(0, 5000, 50)]
    exact = [_exact_nearest(vectors, ids, vectors[i], 10) for i in range(0, 5000, 50)]
    assert [f[0] for f in found] == [e[0] for e in exact]  # each vector finds itself first
    agreed = np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact, strict=True)])
    assert agreed >= 0.95

    only, _ = index.search(vectors[0], 10, source_ids=np.array([3]))
    assert len(only) == 10
    assert set((only % 7).tolist()) == {3}


@pytest.mark.django_db(transaction=False)
def test_the_index_follows_vectors_added_and_removed() -> None:
    rng = np.random.default_rng(4)
    vectors = _clustered(rng, 2000)
    ids = np.arange(1, 2001, dtype=np.int64)
    index = VectorIndex.build(ids=ids, source_ids=ids, vectors=vectors, version=1)

    index.remove(ids[:1000])
    assert index.search(vectors[0], 1)[0][0] != 1
    added = _clustered(rng, 10)
    index.add(np.arange(5001, 5011), np.zeros(10, dtype=np.int64), added)
    assert [index.search(vector, 1)[0][0] for vector in added] == list(range(5001, 5011))
    assert len(index) == 1010
    assert index.ids.tolist() == sorted(index.ids.tolist())


@pytest.fixture
def indexed(settings: Any, tmp_path: Path) -> None:
    """Every workspace searched through its approximate index, kept in ``tmp_path``."""
    settings.KNOWLEDGE_VECTOR_INDEX_FROM = 1
    settings.KNOWLEDGE_VECTOR_INDEX_DIR = tmp_path
    vector_cache.clear()


def _held(workspace: Workspace) -> WorkspaceVectors:
    held = vector_cache.get(workspace.pk, embedding_model_name())
    assert held.index is not None
    return held


def _found_by_own_vector(workspace: Workspace, chunk: Chunk) -> bool:
    query = np.frombuffer(bytes(chunk.embedding or b""), dtype=np.float32)
    return chunk.pk in vector_search(workspace_id=workspace.pk, query_vector=query, limit=3)


def test_retrieval_through_the_index_finds_each_labelled_passage_first(
    indexed: None, team: Team, corpus: dict
) -> None:
    retrieval.test_each_labelled_question_finds_its_passage_first(team, corpus)
    assert _held(team.workspace).index is not None


def test_the_index_follows_sources_added_removed_and_reindexed(
    indexed: None, team: Team, corpus: dict
) -> None:
    before = _held(team.workspace)
    trained_on = before.index.trained_on  # type: ignore[union-attr]

    zoo = _add(team.workspace, "zoo.md", "# Zoo\n\nThe giraffes are fed at noon.", team.owner)
    after = _held(team.workspace)
    assert after.index is before.index  # brought up to date in place, not rebuilt
    assert after.index.trained_on == trained_on  # type: ignore[union-attr]
    assert all(_found_by_own_vector(team.workspace, chunk) for chunk in zoo.chunks.all())

    handbook_ids = set(corpus["handbook"].chunks.values_list("id", flat=True))
    source_remove(source=corpus["handbook"])
    assert not handbook_ids & set(_held(team.workspace).ids.tolist())
    assert not handbook_ids & set(_held(team.workspace).index.ids.tolist())  # type: ignore[union-attr]

    # Another process finds the saved index as this one left it, passages and all.
    elsewhere = VectorCache().get(team.workspace.pk, embedding_model_name())
    assert set(elsewhere.ids.tolist()) == set(
        Chunk.objects.filter(workspace=team.workspace).values_list("id", flat=True)
    )
    assert elsewhere.index.trained_on == trained_on  # type: ignore[union-attr]


def test_the_index_follows_a_change_of_embedding_model(
    indexed: None, team: Team, corpus: dict
) -> None:
    spec = corpus["spec"]
    spec.chunks.update(embedding_model="gguf/old.gguf", dimension=8, embedding=b"\0" * 32)
    passages_changed(workspace_id=team.workspace.pk)
    spec_ids = set(spec.chunks.values_list("id", flat=True))
    assert not spec_ids & set(_held(team.workspace).ids.tolist())

    assert chunks_reembed() == len(spec_ids)
    assert spec_ids <= set(_held(team.workspace).ids.tolist())
    assert all(_found_by_own_vector(team.workspace, chunk) for chunk in spec.chunks.all())


def test_a_passage_moved_to_another_source_is_searched_as_that_source_s(
    indexed: None, team: Team, corpus: dict
) -> None:
    _held(team.workspace)
    menu, spec = corpus["menu"], corpus["spec"]
    moved = menu.chunks.first()
    Chunk.objects.filter(pk=moved.pk).update(source=spec, ordinal=99)  # as an address change can
    passages_changed(workspace_id=team.workspace.pk)

    query = np.frombuffer(bytes(moved.embedding or b""), dtype=np.float32)
    for source, found in ((spec, True), (menu, False)):
        nearest = vector_search(
            workspace_id=team.workspace.pk, query_vector=query, limit=3, source_ids=[source.pk]
        )
        assert (moved.pk in nearest) is found


@pytest.mark.parametrize("damage", ["deleted", "garbled"])
def test_a_missing_or_unreadable_index_is_rebuilt(
    indexed: None, team: Team, corpus: dict, damage: str
) -> None:
    _held(team.workspace)
    path = index_path(team.workspace.pk, embedding_model_name())
    assert path.exists()
    if damage == "deleted":
        path.unlink()
    else:
        path.write_bytes(b"not an index")

    fresh = VectorCache().get(team.workspace.pk, embedding_model_name())
    assert set(fresh.ids.tolist()) == set(
        Chunk.objects.filter(workspace=team.workspace).values_list("id", flat=True)
    )
    assert VectorIndex.load(path) is not None
    menu = corpus["menu"].chunks.first()
    vector_cache.clear()
    assert _found_by_own_vector(team.workspace, menu)


def test_an_index_of_a_database_made_anew_under_the_same_name_is_not_used(
    indexed: None, team: Team, corpus: dict
) -> None:
    _held(team.workspace)
    # The database made anew: its workspace of the same id is another one, born at another
    # time, with other passages under the same ids.
    rng = np.random.default_rng(5)
    for chunk in Chunk.objects.filter(workspace=team.workspace):
        vector = rng.standard_normal(chunk.dimension).astype(np.float32)
        chunk.embedding = (vector / np.linalg.norm(vector)).tobytes()
        chunk.save(update_fields=["embedding"])
    Workspace.objects.filter(pk=team.workspace.pk).update(created_at=timezone.now())
    passages_changed(workspace_id=team.workspace.pk)

    vector_cache.clear()
    chunks = Chunk.objects.filter(workspace=team.workspace)
    assert all(_found_by_own_vector(team.workspace, chunk) for chunk in chunks)


def test_a_deleted_workspace_leaves_no_index_behind(
    indexed: None, team: Team, corpus: dict
) -> None:
    other = WorkspaceFactory.create()
    _add(other, "zoo.md", "# Zoo\n\nThe giraffes are fed at noon.", team.owner)
    kept = [index_path(w.pk, embedding_model_name()) for w in (team.workspace, other)]
    for workspace in (team.workspace, other):
        _held(workspace)
    assert all(path.exists() for path in kept)

    team.workspace.delete()  # as staff do in the admin

    assert not kept[0].exists()
    assert kept[1].exists()  # another workspace's index stays


def test_a_small_workspace_is_searched_exactly(team: Team, corpus: dict) -> None:
    vector_cache.clear()
    held = vector_cache.get(team.workspace.pk, embedding_model_name())
    assert held.index is None
    assert len(held.matrix) == Chunk.objects.filter(source__status=Source.Status.READY).count()
