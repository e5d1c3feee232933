"""Finding passages: the database's own full-text search, vector search, and their fusion.

Full-text search is native to each database: SQLite's FTS5 (a virtual table kept in step with
``knowledge_chunk`` by triggers, ranked by ``bm25``) and PostgreSQL's text search (a GIN index
on ``to_tsvector(config, text)``, ranked by ``ts_rank_cd``). User input never reaches either
as syntax: it is reduced to words, each quoted for FTS5 and joined with ``or`` for
``websearch_to_tsquery``, so ``foo AND (`` is a search for "foo" and "and".

Vector search is brute force with numpy over one workspace's vectors of the current model,
kept per process and reloaded when the workspace's chunks change. That is milliseconds at
tens of thousands of chunks; ``vector_search`` is the one function a real vector store would
replace (docs/architecture.md, "Knowledge").

The two rankings are fused with reciprocal rank fusion (each list gives 1 / (60 + rank)), which
needs no score calibration between BM25 and cosine. Vector search ranks *every* passage, so in
a small workspace a passage that shares one incidental word with the question would outrank
the one the question is about; only passages within KNOWLEDGE_VECTOR_MARGIN of the nearest
take part, and ties go to the vector ranking.
"""

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import Count, Max

from .embedding import embedder_get, embedding_model_name, vector_from
from .models import Chunk

RRF_K = 60
MAX_QUERY_WORDS = 32
_WORD = re.compile(r"\w+", re.UNICODE)
_CONFIG = re.compile(r"^[a-z_]+$")


# Words of a question that say nothing about its subject. Matched in full-text search they
# rank passages by how often they say "the" or "how", and fusion then lets that noise outvote
# the vector ranking; PostgreSQL's english configuration drops most of them too.
STOP_WORDS = frozenset(
    (  # noqa: SIM905 - a list of words reads better as words
        "a an and any are as at be been but by can could did do does for from get gets got had "
        "has have how i if in into is it its me my of on or our should so some than that the "
        "their them then there these they this those to us was we were what when where which "
        "who whom why will with would you your"
    ).split()
)


def query_words(query: str) -> list[str]:
    """The words of ``query`` that carry its subject (all of them if none does), at most
    MAX_QUERY_WORDS, without repeats, in order."""
    words = list(dict.fromkeys(word.lower() for word in _WORD.findall(query)))
    meaningful = [word for word in words if word not in STOP_WORDS]
    return (meaningful or words)[:MAX_QUERY_WORDS]


def fts5_query(query: str) -> str:
    """An FTS5 MATCH expression: any of the words, each quoted (no operators survive)."""
    return " OR ".join(f'"{word}"' for word in query_words(query))


def _search_config() -> str:
    config = settings.KNOWLEDGE_SEARCH_CONFIG
    if not _CONFIG.match(config):
        raise ValueError(f"KNOWLEDGE_SEARCH_CONFIG must be a configuration name, not {config!r}")
    return config


def text_search(
    *, workspace_id: int, query: str, limit: int, source_ids: Iterable[int] | None = None
) -> list[int]:
    """Chunk ids that match ``query``'s words, best first (BM25 / cover density)."""
    words = query_words(query)
    if not words:
        return []
    sources = list(source_ids) if source_ids is not None else None
    if sources == []:
        return []
    source_filter = ""
    params: list[int | str] = []
    if sources is not None:
        source_filter = f" AND c.source_id IN ({', '.join(['%s'] * len(sources))})"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            config = _search_config()  # a literal, so the expression index applies
            params = [" or ".join(words), workspace_id, *(sources or []), limit]
            cursor.execute(
                f"SELECT c.id FROM knowledge_chunk c, "  # noqa: S608 - no user text inlined
                f"websearch_to_tsquery('{config}', %s) q "
                f"WHERE c.workspace_id = %s{source_filter} "
                f"AND to_tsvector('{config}'::regconfig, c.text) @@ q "
                f"ORDER BY ts_rank_cd(to_tsvector('{config}'::regconfig, c.text), q) DESC, c.id "
                f"LIMIT %s",
                params,
            )
        else:
            params = [fts5_query(query), workspace_id, *(sources or []), limit]
            cursor.execute(
                "SELECT c.id FROM knowledge_chunk_fts f "  # noqa: S608 - no user text inlined
                "JOIN knowledge_chunk c ON c.id = f.rowid "
                f"WHERE knowledge_chunk_fts MATCH %s AND c.workspace_id = %s{source_filter} "
                "ORDER BY bm25(knowledge_chunk_fts), c.id LIMIT %s",
                params,
            )
        return [row[0] for row in cursor.fetchall()]


@dataclass
class _Vectors:
    signature: tuple[int, int]
    ids: np.ndarray
    source_ids: np.ndarray
    matrix: np.ndarray


class VectorCache:
    """Each workspace's vectors of the current model as one matrix, per process (LRU)."""

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[int, str], _Vectors] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, workspace_id: int, model: str) -> _Vectors:
        chunks = Chunk.objects.filter(workspace_id=workspace_id, embedding_model=model)
        stats = chunks.aggregate(newest=Max("id"), count=Count("id"))
        signature = (stats["newest"] or 0, stats["count"])
        key = (workspace_id, model)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.signature == signature:
                self._entries.move_to_end(key)
                return entry
        rows = list(chunks.order_by("id").values_list("id", "source_id", "embedding", "dimension"))
        dimension = rows[0][3] if rows else 0
        rows = [row for row in rows if row[2] is not None and row[3] == dimension]
        matrix = (
            np.vstack([vector_from(bytes(row[2] or b""), dimension) for row in rows])
            if rows
            else np.zeros((0, dimension), dtype=np.float32)
        )
        entry = _Vectors(
            signature=signature,
            ids=np.array([row[0] for row in rows], dtype=np.int64),
            source_ids=np.array([row[1] for row in rows], dtype=np.int64),
            matrix=matrix,
        )
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


vector_cache = VectorCache()


def vector_search(
    *,
    workspace_id: int,
    query_vector: np.ndarray,
    limit: int,
    source_ids: Iterable[int] | None = None,
    margin: float | None = None,
) -> list[int]:
    """Chunk ids nearest to ``query_vector`` (cosine), best first, among the workspace's
    chunks embedded by the current model; with ``margin``, only those at most that much less
    similar than the nearest."""
    vectors = vector_cache.get(workspace_id, embedding_model_name())
    if not len(vectors.ids) or vectors.matrix.shape[1] != query_vector.shape[0]:
        return []
    scores = vectors.matrix @ query_vector
    if source_ids is not None:
        allowed = np.isin(vectors.source_ids, np.fromiter(source_ids, dtype=np.int64))
        scores = np.where(allowed, scores, -np.inf)
    count = min(limit, int(np.isfinite(scores).sum()))
    if count <= 0:
        return []
    best = np.argpartition(-scores, count - 1)[:count]
    best = best[np.argsort(-scores[best], kind="stable")]
    if margin is not None:
        best = best[scores[best] >= scores[best[0]] - margin]
    return [int(i) for i in vectors.ids[best]]


def rank_fuse(*rankings: list[int], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: ids with their fused score, best first (ties: first seen)."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, chunk_id in enumerate(ranking, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: -item[1])


def query_embed(query: str) -> np.ndarray:
    return embedder_get().query(query)
