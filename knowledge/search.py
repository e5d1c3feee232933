"""Finding passages: the database's own full-text search, vector search, and their fusion.

Full-text search is native to each database: SQLite's FTS5 (a virtual table kept in step with
``knowledge_chunk`` by triggers, ranked by ``bm25``) and PostgreSQL's text search (a GIN index
on ``to_tsvector(config, text)``, ranked by ``ts_rank_cd``). User input never reaches either
as syntax: it is reduced to words, each quoted for FTS5 (``fts5_string``) and joined with
``or`` for ``websearch_to_tsquery``, so ``foo AND (`` is a search for "foo" and "and".

Vector search is brute force with numpy over one workspace's vectors of the current model,
kept per process and reloaded when the workspace's passages change (``PassagesVersion``).
That is milliseconds at tens of thousands of chunks; ``vector_search`` is the one function a
real vector store would replace (docs/architecture.md, "Knowledge").

The two rankings are fused with reciprocal rank fusion (each list gives 1 / (60 + rank)), which
needs no score calibration between BM25 and cosine. Vector search ranks *every* passage, so in
a small workspace a passage that shares one incidental word with the question would outrank
the one the question is about; only passages within a margin of the nearest
(``embedding.vector_margin``) take part, and ties go to the vector ranking.
"""

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection

from .embedding import embedder_get, embedding_model_name, vector_from
from .models import Chunk, PassagesVersion

logger = logging.getLogger(__name__)

RRF_K = 60
FREQUENCY_TTL_S = 60.0
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


def fts5_string(word: str, *, prefix: bool = False) -> str:
    """``word`` as an FTS5 string: in double quotes, any inside doubled, so nothing in it is
    syntax; with ``prefix``, it matches the words that begin with it (``"zephy"*``). The one
    quoting of user words for FTS5 (retrieval's here, the search box's in search.selectors)."""
    quoted = '"' + word.replace('"', '""') + '"'
    return f"{quoted}*" if prefix else quoted


def tsquery_string(word: str, *, prefix: bool = False) -> str:
    """``word`` as one operand of PostgreSQL's ``to_tsquery``: in single quotes (quotes and
    backslashes escaped), so nothing in it is syntax; with ``prefix``, ``:*``."""
    quoted = "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"
    return f"{quoted}:*" if prefix else quoted


def fts5_any(words: list[str]) -> str:
    """An FTS5 MATCH expression: any of ``words``, each quoted (no operators survive)."""
    return " OR ".join(fts5_string(word) for word in words)


def _search_config() -> str:
    config = settings.KNOWLEDGE_SEARCH_CONFIG
    if not _CONFIG.match(config):
        raise ValueError(f"KNOWLEDGE_SEARCH_CONFIG must be a configuration name, not {config!r}")
    return config


class _Frequencies:
    """How many passages contain each word (all workspaces, as BM25's statistics are). Common
    words' counts are kept for FREQUENCY_TTL_S per process: they change slowly, and counting
    them is what would cost; rarer words are counted each time, so a passage just added is
    found at once by its rare words."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._counts: dict[tuple[str, str], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def get(self, cursor: Any, word: str) -> int:
        key, now = (connection.vendor, word), time.monotonic()
        with self._lock:
            cached = self._counts.get(key)
        if cached is not None and now - cached[0] < FREQUENCY_TTL_S:
            return cached[1]
        if connection.vendor == "postgresql":
            config = _search_config()
            cursor.execute(
                f"SELECT count(*) FROM knowledge_chunk "  # noqa: S608 - no user text inlined
                f"WHERE search_vector @@ plainto_tsquery('{config}', %s)",
                [word],
            )
        else:
            cursor.execute(
                "SELECT count(*) FROM knowledge_chunk_fts WHERE knowledge_chunk_fts MATCH %s",
                [fts5_string(word)],
            )
        count = int(cursor.fetchone()[0])
        if count < settings.KNOWLEDGE_FTS_MAX_MATCHES // 10:
            return count  # quick to count again, and a new passage may have it any moment
        with self._lock:
            if len(self._counts) >= self._size:
                self._counts.clear()
            self._counts[key] = (now, count)
        return count

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


word_frequencies = _Frequencies()


def selective_words(cursor: Any, words: list[str]) -> list[str]:
    """The rarest of ``words``, as many as fit KNOWLEDGE_FTS_MAX_MATCHES matching passages
    together; none if even the rarest matches more.

    Ranking costs in proportion to the passages that match, and a word found in most of them
    adds almost nothing to BM25 (its inverse document frequency is near zero) while making
    every passage a candidate: leaving common words out keeps full-text search fast at any
    size, and vector search still weighs them.
    """
    budget = settings.KNOWLEDGE_FTS_MAX_MATCHES
    counted = sorted(
        ((word_frequencies.get(cursor, word), index, word) for index, word in enumerate(words)),
    )
    kept: list[str] = []
    total = 0
    for count, _, word in counted:
        if count == 0:
            continue
        if total + count > budget:
            break
        kept.append(word)
        total += count
    return kept


def text_search(
    *, workspace_id: int, query: str, limit: int, source_ids: Iterable[int] | None = None
) -> list[int]:
    """Chunk ids that match ``query``'s selective words, best first (BM25 / cover density)."""
    sources = list(source_ids) if source_ids is not None else None
    if sources == [] or not query_words(query):
        return []
    source_filter = ""
    params: list[int | str] = []
    if sources is not None:
        source_filter = f" AND c.source_id IN ({', '.join(['%s'] * len(sources))})"
    with connection.cursor() as cursor:
        words = selective_words(cursor, query_words(query))
        if not words:
            return []
        if connection.vendor == "postgresql":
            config = _search_config()  # the stored vectors' (migration 0004)
            params = [" or ".join(words), workspace_id, *(sources or []), limit]
            cursor.execute(
                f"SELECT c.id FROM knowledge_chunk c, "  # noqa: S608 - no user text inlined
                f"websearch_to_tsquery('{config}', %s) q "
                f"WHERE c.workspace_id = %s{source_filter} "
                f"AND c.search_vector @@ q "
                f"ORDER BY ts_rank_cd(c.search_vector, q) DESC, c.id "
                f"LIMIT %s",
                params,
            )
        else:
            params = [fts5_any(words), workspace_id, *(sources or [])]
            params.append(limit)
            cursor.execute(
                "SELECT c.id FROM knowledge_chunk_fts f "  # noqa: S608 - no user text inlined
                "JOIN knowledge_chunk c ON c.id = f.rowid "
                f"WHERE knowledge_chunk_fts MATCH %s AND c.workspace_id = %s{source_filter} "
                "ORDER BY bm25(knowledge_chunk_fts), c.id LIMIT %s",
                params,
            )
        return [row[0] for row in cursor.fetchall()]


@dataclass
class WorkspaceVectors:
    version: int  # the workspace's PassagesVersion when these were read
    ids: np.ndarray
    source_ids: np.ndarray
    matrix: np.ndarray

    def similarities(self, chunk_ids: list[int], query_vector: np.ndarray) -> dict[int, float]:
        """The cosine of each of ``chunk_ids`` with ``query_vector``, for those that have a
        vector here (a passage not yet embedded by the current model has none)."""
        if not len(self.ids) or not chunk_ids or self.matrix.shape[1] != query_vector.shape[0]:
            return {}
        wanted = np.asarray(chunk_ids, dtype=np.int64)
        rows = np.minimum(np.searchsorted(self.ids, wanted), len(self.ids) - 1)  # ids ascend
        present = self.ids[rows] == wanted
        scores = self.matrix[rows[present]] @ query_vector
        return dict(zip(wanted[present].tolist(), scores.tolist(), strict=True))


def passages_version(workspace_id: int) -> int:
    """The workspace's passages' version (0 before their first change): one primary-key
    lookup, whatever the number of passages."""
    found = PassagesVersion.objects.filter(pk=workspace_id).values_list("version", flat=True)
    return found.first() or 0


class VectorCache:
    """Each workspace's vectors of the current model as one matrix, per process (LRU).

    An entry is current while its workspace's ``PassagesVersion`` is the one it was loaded
    at: each search reads that one row, nothing of the passages themselves. The version is
    read before the vectors, so a change committed in between makes the entry look older than
    it is (it is read again next time), never newer.
    """

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[int, str], WorkspaceVectors] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, workspace_id: int, model: str) -> WorkspaceVectors:
        key = (workspace_id, model)
        version = passages_version(workspace_id)
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and entry.version == version:
            return self._touched(key, entry)
        chunks = Chunk.objects.filter(workspace_id=workspace_id, embedding_model=model)
        entry = self._load(chunks, version=version)
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return entry

    def _touched(self, key: tuple[int, str], entry: WorkspaceVectors) -> WorkspaceVectors:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
        return entry

    @staticmethod
    def _load(chunks: Any, *, version: int) -> WorkspaceVectors:
        rows = list(chunks.order_by("id").values_list("id", "source_id", "embedding", "dimension"))
        dimension = rows[0][3] if rows else 0
        rows = [row for row in rows if row[2] is not None and row[3] == dimension]
        matrix = (
            np.vstack([vector_from(bytes(row[2] or b""), dimension) for row in rows])
            if rows
            else np.zeros((0, dimension), dtype=np.float32)
        )
        return WorkspaceVectors(
            version=version,
            ids=np.array([row[0] for row in rows], dtype=np.int64),
            source_ids=np.array([row[1] for row in rows], dtype=np.int64),
            matrix=matrix,
        )

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
    vectors: WorkspaceVectors | None = None,
) -> list[int]:
    """Chunk ids nearest to ``query_vector`` (cosine), best first, among the workspace's
    chunks embedded by the current model; with ``margin``, only those at most that much less
    similar than the nearest. ``vectors``: the workspace's, when the caller has them already."""
    if vectors is None:
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
