"""Reads about knowledge: a workspace's sources, and the passages that fit a question."""

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet
from django.http import Http404

from workspace.models import Workspace
from workspace.selectors import membership_get

from .chunking import locator_label
from .embedding import embedding_model_name, relevance, vector_margin
from .models import Chunk, Source
from .search import query_embed, rank_fuse, text_search, vector_cache, vector_search

_embedding_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="query-embedding")
CANDIDATES_PER_RESULT = 4  # each ranking offers this many candidates per passage wanted
MIN_CANDIDATES = 40
# A passage among this many best full-text matches needs a little less similarity to count as
# relevant (embedding.relevance): the question's rarer words are in it.
BEST_WORD_MATCHES = 2


def source_list(*, workspace: Workspace) -> QuerySet[Source]:
    return workspace.sources.defer("data").select_related("added_by")


@dataclass(frozen=True)
class SourceAccess:
    source: Source
    can_edit: bool


def source_access_get(*, user: User | AnonymousUser, source_id: int) -> SourceAccess:
    """The source and whether ``user`` may change it; 404 alike for unknown ids and
    non-members."""
    source = Source.objects.defer("data").filter(pk=source_id).first()
    if source is not None:
        membership = membership_get(user=user, workspace_id=source.workspace_id)
        if membership is not None:
            return SourceAccess(source, can_edit=membership.can_edit)
    raise Http404("No such source.")


@dataclass(frozen=True)
class Passage:
    chunk_id: int
    source_id: int
    source_title: str
    source_kind: str
    url: str
    locator: dict[str, Any]
    locator_label: str
    text: str
    score: float  # fused (reciprocal rank fusion): the order, not how well it fits
    similarity: float | None  # cosine with the question; None until embedded by this model
    text_rank: int | None  # its place among the full-text matches (1: best), None if not one


def retrieve(
    *,
    workspace: Workspace,
    query: str,
    k: int = 5,
    source_ids: Iterable[int] | None = None,
) -> list[Passage]:
    """The ``k`` passages of the workspace's sources (or of ``source_ids`` only) that best
    fit ``query``: full-text and vector rankings fused, best first."""
    sources = list(source_ids) if source_ids is not None else None
    if k <= 0 or sources == [] or not query.strip():
        return []
    if not _passages_exist(workspace_id=workspace.pk, source_ids=sources):
        # Nothing to find: skip embedding the question (and loading the embedder) and the
        # searches. Every answer asks, so a workspace without sources must pay almost nothing.
        return []
    candidates = max(MIN_CANDIDATES, k * CANDIDATES_PER_RESULT)
    # The question's embedding runs in C (the GIL released) while this thread queries the
    # database: full-text search and the vector cache's freshness check.
    embedding = _embedding_pool.submit(query_embed, query)
    by_text = text_search(
        workspace_id=workspace.pk, query=query, limit=candidates, source_ids=sources
    )
    vectors = vector_cache.get(workspace.pk, embedding_model_name())
    query_vector = embedding.result()
    by_vector = vector_search(
        workspace_id=workspace.pk,
        query_vector=query_vector,
        limit=candidates,
        source_ids=sources,
        margin=vector_margin(),
        vectors=vectors,
    )
    fused = rank_fuse(by_vector, by_text)[:k]
    chunks = Chunk.objects.select_related("source").defer("embedding", "source__data")
    found = chunks.in_bulk([chunk_id for chunk_id, _ in fused])
    similarity = vectors.similarities(list(found), query_vector)
    text_rank = {chunk_id: rank for rank, chunk_id in enumerate(by_text, start=1)}
    return [
        _passage(found[chunk_id], score, similarity.get(chunk_id), text_rank.get(chunk_id))
        for chunk_id, score in fused
        if chunk_id in found
    ]


def passages_relevant(passages: list[Passage]) -> list[Passage]:
    """Those of ``passages`` that are about the question, in order: similar enough to it
    (``embedding.relevance``), a little less so if among its best full-text matches. Retrieval
    always finds the nearest passages, however far; a question about something else (code in a
    workspace about a product launch) must be given none. A passage not yet embedded by the
    current model (being embedded again) is judged by its words alone."""
    least = relevance()

    def relevant(passage: Passage) -> bool:
        best_words = passage.text_rank is not None and passage.text_rank <= BEST_WORD_MATCHES
        if passage.similarity is None:
            return best_words
        return passage.similarity >= (least.with_words if best_words else least.similarity)

    return [passage for passage in passages if relevant(passage)]


def _passages_exist(*, workspace_id: int, source_ids: list[int] | None) -> bool:
    """Whether the workspace (or the given sources of it) has any passage at all: one indexed
    lookup, against the question's embedding and two searches."""
    chunks = Chunk.objects.filter(workspace_id=workspace_id)
    if source_ids is not None:
        chunks = chunks.filter(source_id__in=source_ids)
    return chunks.exists()


def _passage(
    chunk: Chunk, score: float, similarity: float | None, text_rank: int | None
) -> Passage:
    source = chunk.source
    return Passage(
        chunk_id=chunk.pk,
        source_id=source.pk,
        source_title=source.title,
        source_kind=source.kind,
        url=source.url,
        locator=chunk.locator,
        locator_label=locator_label(chunk.locator),
        text=chunk.text,
        score=score,
        similarity=similarity,
        text_rank=text_rank,
    )
