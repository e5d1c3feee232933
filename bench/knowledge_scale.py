"""Retrieval latency at scale on one database, in a process of its own:

    python -m bench.knowledge_scale DATABASE_URL SIZE [SIZE ...]

Migrates a fresh database, fills one workspace with synthetic passages (words drawn from a
Zipf distribution over a 5,000-word vocabulary, and random unit vectors labelled as the
current embedding model's), and at each size times ``knowledge.selectors.retrieve`` (the
query's embedding, full-text search, vector search, fusion) for random three-word questions.
Prints one JSON list: {"chunks", "database", "p50", "p95", "first_ms"} per size. Vectors are
random: this measures speed, not quality (recall is measured on a labelled corpus).
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


def main(url: str, sizes: list[int]) -> list[dict[str, object]]:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from knowledge.embedding import embedding_model_name, vector_bytes
    from knowledge.models import Chunk, Source
    from knowledge.search import vector_cache
    from knowledge.selectors import retrieve
    from workspace.models import Workspace

    from .stats import percentile, r

    call_command("migrate", verbosity=0)
    rng = np.random.default_rng(7)
    words = np.array([f"term{i}" for i in range(VOCABULARY)])
    workspace = Workspace.objects.create(name="Retrieval at scale")
    source = Source.objects.create(
        workspace=workspace, kind=Source.Kind.FILE, title="synthetic", status=Source.Status.READY
    )
    model, results, inserted = embedding_model_name(), [], 0
    for size in sorted(sizes):
        while inserted < size:
            count = min(BATCH, size - inserted)
            picks = (rng.zipf(1.3, size=(count, WORDS_PER_PASSAGE)) - 1) % VOCABULARY
            vectors = rng.standard_normal((count, 384)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            Chunk.objects.bulk_create(
                Chunk(
                    source=source,
                    workspace=workspace,
                    ordinal=inserted + i,
                    text=" ".join(words[picks[i]]),
                    locator={"page": [inserted + i + 1, inserted + i + 1]},
                    embedding=vector_bytes(vectors[i]),
                    embedding_model=model,
                    dimension=384,
                )
                for i in range(count)
            )
            inserted += count
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
        results.append({
            "chunks": size,
            "database": connection.vendor,
            "p50": r(percentile(timings, 50)),
            "p95": r(percentile(timings, 95)),
            "first_ms": r(first_ms),
        })  # fmt: skip
    return results


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], [int(size) for size in sys.argv[2:]])), flush=True)
