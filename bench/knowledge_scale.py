"""Retrieval latency at scale on one database, in a process of its own:

    python -m bench.knowledge_scale DATABASE_URL SIZE [SIZE ...]

Migrates a fresh database, fills one workspace with synthetic passages (words drawn from a
Zipf distribution over a 5,000-word vocabulary, and clustered unit vectors of the current
embedding model's dimension, labelled as its), and at each size times
``knowledge.selectors.retrieve`` (the query's embedding, full-text search, vector search,
fusion) for random three-word questions. Prints one JSON list: {"chunks", "database", "p50",
"p95", "first_ms", "vector_search"} per size; where the approximate index served (from
KNOWLEDGE_VECTOR_INDEX_FROM passages), its "recall_at_10_vs_exact" too, for questions near
stored passages. This measures speed and the index's agreement with exact search, not
retrieval quality (recall@5 is measured on the labelled corpora).

    python -m bench.knowledge_scale --index SIZE

The approximate index alone at SIZE vectors held in memory (no database, no full text; the
full-text part is measured by the runs above): build seconds, search p50/p95, recall@10
against exact search, memory per million vectors, and an update (a thousand vectors removed,
a thousand added).

The vectors are clustered, as text embeddings are (passages on one subject lie near each
other): SUBJECTS broad directions, topics of about TOPIC_SIZE passages around them, each
passage loosely around its topic (SPREAD). Uniformly random vectors would be no test: in hundreds of
dimensions all of them are about equally far apart, and "nearest" means nothing.
"""

import json
import os
import sys
import time

import numpy as np

QUERIES = 40
WORDS_PER_PASSAGE = 150
VOCABULARY = 5000
BATCH = 2000
SUBJECTS = 100
TOPIC_SIZE = 1000
SPREAD = 2.0  # of passages around their topic: cosine to it about 0.45
INDEX_QUERIES = 200
UPDATED = 1000


def _unit(vectors: np.ndarray) -> np.ndarray:
    return (vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)).astype(np.float32)


class ClusteredVectors:
    """Unit vectors around topics around subjects (see the module's docstring)."""

    def __init__(self, rng: np.random.Generator, *, dimension: int, topics: int) -> None:
        self._rng, self._dimension = rng, dimension
        subjects = _unit(rng.standard_normal((SUBJECTS, dimension)))
        around = subjects[rng.integers(0, SUBJECTS, topics)]
        self._topics = _unit(around + self._noise(topics))

    def _noise(self, count: int) -> np.ndarray:
        return _unit(self._rng.standard_normal((count, self._dimension)))

    def passages(self, count: int) -> np.ndarray:
        topics = self._topics[self._rng.integers(0, len(self._topics), count)]
        return _unit(topics + SPREAD * self._noise(count))

    def questions_near(self, passages: np.ndarray, count: int) -> np.ndarray:
        """Vectors each near one of ``passages`` (as a question is near its answer)."""
        picked = passages[self._rng.integers(0, len(passages), count)]
        return _unit(picked + 0.75 * self._noise(count))


def recall_at_10(found: list[np.ndarray], exact: list[np.ndarray]) -> float:
    """The share of exact search's ten nearest that the index found, over the questions."""
    return float(
        np.mean(
            [len(set(a.tolist()) & set(b.tolist())) / 10 for a, b in zip(found, exact, strict=True)]
        )
    )


def main(url: str, sizes: list[int]) -> list[dict[str, object]]:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from knowledge.embedding import embedder_get, embedding_model_name, vector_bytes
    from knowledge.models import Chunk, Source
    from knowledge.search import vector_cache
    from knowledge.selectors import retrieve
    from knowledge.services import passages_changed
    from workspace.models import Workspace

    from .stats import percentile, r

    call_command("migrate", verbosity=0)
    rng = np.random.default_rng(7)
    words = np.array([f"term{i}" for i in range(VOCABULARY)])
    workspace = Workspace.objects.create(name="Retrieval at scale")
    source = Source.objects.create(
        workspace=workspace, kind=Source.Kind.FILE, title="synthetic", status=Source.Status.READY
    )
    model, dimension = embedding_model_name(), embedder_get().dimension
    generator = ClusteredVectors(rng, dimension=dimension, topics=max(sizes) // TOPIC_SIZE + 1)
    results: list[dict[str, object]] = []
    inserted, sample = 0, np.zeros((0, dimension), dtype=np.float32)
    for size in sorted(sizes):
        while inserted < size:
            count = min(BATCH, size - inserted)
            picks = (rng.zipf(1.3, size=(count, WORDS_PER_PASSAGE)) - 1) % VOCABULARY
            vectors = generator.passages(count)
            sample = np.vstack([sample, vectors[:10]])
            Chunk.objects.bulk_create(
                Chunk(
                    source=source,
                    workspace=workspace,
                    ordinal=inserted + i,
                    text=" ".join(words[picks[i]]),
                    locator={"page": [inserted + i + 1, inserted + i + 1]},
                    embedding=vector_bytes(vectors[i]),
                    embedding_model=model,
                    dimension=dimension,
                )
                for i in range(count)
            )
            inserted += count
        passages_changed(workspace_id=workspace.pk)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # as autovacuum does after a load: the planner's statistics, the rows' hint
                # bits set (else the first searches to read each row write it)
                cursor.execute("VACUUM ANALYZE knowledge_chunk")
        vector_cache.clear()
        started = time.perf_counter()
        retrieve(workspace=workspace, query="term1 term2 term3", k=5)
        first_ms = (time.perf_counter() - started) * 1000
        timings = []
        for _ in range(QUERIES):
            question = " ".join(words[(rng.zipf(1.3, size=3) - 1) % VOCABULARY])
            started = time.perf_counter()
            retrieve(workspace=workspace, query=question, k=5)
            timings.append((time.perf_counter() - started) * 1000)
        row: dict[str, object] = {
            "chunks": size,
            "database": connection.vendor,
            "p50": r(percentile(timings, 50)),
            "p95": r(percentile(timings, 95)),
            "first_ms": r(first_ms),
        }
        vectors_held = vector_cache.get(workspace.pk, model)
        row["vector_search"] = "approximate" if vectors_held.index else "exact"
        if vectors_held.index:
            row["recall_at_10_vs_exact"] = _recall_in_database(
                workspace.pk, model, generator.questions_near(sample, INDEX_QUERIES)
            )
        results.append(row)
    return results


def _recall_in_database(workspace_id: int, model: str, questions: np.ndarray) -> float:
    """The workspace's index against exact search over the same vectors."""
    from knowledge.models import Chunk
    from knowledge.search import VectorCache, vector_cache, vector_search

    indexed = vector_cache.get(workspace_id, model)
    chunks = Chunk.objects.filter(workspace_id=workspace_id, embedding_model=model)
    exact = VectorCache.exact(chunks, version=indexed.version)
    found: list[np.ndarray] = []
    expected: list[np.ndarray] = []
    for question in questions:
        for vectors, into in ((indexed, found), (exact, expected)):
            ids = vector_search(
                workspace_id=workspace_id, query_vector=question, limit=10, vectors=vectors
            )
            into.append(np.array(ids))
    return round(recall_at_10(found, expected), 3)


def measure_index(size: int, *, dimension: int) -> dict[str, object]:
    """The approximate index alone at ``size`` generated vectors (the module's docstring)."""
    from knowledge.vector_index import VectorIndex

    from .stats import percentile, r

    rng = np.random.default_rng(7)
    generator = ClusteredVectors(rng, dimension=dimension, topics=size // TOPIC_SIZE + 1)
    vectors = np.vstack(
        [generator.passages(min(100_000, size - start)) for start in range(0, size, 100_000)]
    )
    ids = np.arange(1, size + 1, dtype=np.int64)
    started = time.perf_counter()
    index = VectorIndex.build(ids=ids, source_ids=ids // 1000, vectors=vectors, version=1)
    build_s = time.perf_counter() - started
    questions = generator.questions_near(vectors, INDEX_QUERIES)
    timings, found = [], []
    for question in questions:
        started = time.perf_counter()
        nearest, _ = index.search(question, 10)
        timings.append((time.perf_counter() - started) * 1000)
        found.append(nearest)
    exact = [ids[np.argpartition(-(vectors @ question), 10)[:10]] for question in questions]
    started = time.perf_counter()
    index.remove(ids[:UPDATED])
    index.add(ids[:UPDATED] + size, ids[:UPDATED] // 1000, generator.passages(UPDATED))
    update_ms = (time.perf_counter() - started) * 1000
    return {
        "chunks": size,
        "database": "none",  # generated vectors in memory; full text: the rows above
        "vector_search": "approximate",
        "dimension": dimension,
        "p50": r(percentile(timings, 50), 2),
        "p95": r(percentile(timings, 95), 2),
        "recall_at_10_vs_exact": round(recall_at_10(found, exact), 3),
        "build_s": r(build_s),
        "update_ms": r(update_ms),
        "mib_per_million": r(index.memory_bytes() / 2**20 / (size / 1_000_000)),
    }


if __name__ == "__main__":
    if sys.argv[1] == "--index":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        import django

        django.setup()
        from knowledge.embedding import embedder_get

        measured = measure_index(int(sys.argv[2]), dimension=embedder_get().dimension)
        print(json.dumps(measured), flush=True)
    else:
        print(json.dumps(main(sys.argv[1], [int(size) for size in sys.argv[2:]])), flush=True)
