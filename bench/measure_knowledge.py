"""Knowledge: ingestion speed, retrieval at scale on both databases, recall@5, what retrieval
adds to an answer's first token, and chat latency while a large PDF is being read.

- Ingestion: a generated PDF read, cut, embedded and indexed in the bench process
  (``knowledge.services.source_ingest``, what the ingest worker runs): pages/s and passages/s.
- Retrieval at scale: ``bench.knowledge_scale`` in a process per database (the bench's SQLite
  file, and PostgreSQL when ``BENCH_POSTGRES_URL`` or the local server answers).
- Recall@5 on ``bench.knowledge_corpus``: fused, full-text alone, vectors alone.
- TTFT overhead: an answer's first token with its passages (retrieval and the longer prompt)
  minus without, on the default model in this process, nothing kept between runs.
- Chat latency during ingestion: the chat measurement while an ``ingest`` worker reads a
  300-page PDF, beside the same measurement just before with nothing being read.
"""

import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

from assistant.grounding import passages_for, sources_block
from chat.answering import KnowledgeScope
from harness.live_stack import processes_stop, worker_start
from harness.pdf import pdf_make
from knowledge.models import Source
from knowledge.search import query_embed, text_search, vector_search
from knowledge.selectors import retrieve
from knowledge.services import source_add_file, source_ingest
from llm.kept_states import KeptStates
from llm.prompt import Turn
from workspace.models import Workspace

from . import measure_chat
from .context import Bench
from .knowledge_corpus import DOCUMENTS, LABELLED
from .stack import LOG_DIR
from .stats import r

SCALE_DB = "roundtable_bench_knowledge"
LINES_PER_PAGE = 40


def measure(bench: Bench) -> dict[str, Any]:
    smoke = bench.config.smoke
    bench.progress("12. knowledge: ingestion, retrieval at scale, recall, TTFT, chat")
    ingestion = measure_ingestion(bench, pages=5 if smoke else 40)
    bench.progress(f"   ingestion: {ingestion}")
    corpus = _corpus(bench)
    recall = measure_recall(corpus)
    bench.progress(f"   recall@5: {recall}")
    overhead = measure_ttft_overhead(bench, corpus, reps=2 if smoke else 5)
    bench.progress(f"   retrieval TTFT overhead: {overhead}")
    sizes = [1000] if smoke else [10_000, 100_000]
    scale = measure_scale(sizes)
    bench.progress(f"   retrieval at scale: {scale}")
    during = measure_chat_during_ingestion(bench, pages=30 if smoke else 300)
    bench.progress(f"   chat during ingestion: {during}")
    return {
        "ingestion": ingestion,
        "retrieval_ms": scale,
        "recall_at_5": recall,
        "retrieval_ttft_overhead_ms": overhead,
        "chat_latency_during_ingestion_ms": during,
    }


def _pdf(pages: int) -> bytes:
    return pdf_make([
        "\n".join(
            f"Page {page}, line {line}: the quarterly report covers item {page * line} and its "
            f"status in region {line % 7}."
            for line in range(LINES_PER_PAGE)
        )
        for page in range(1, pages + 1)
    ])  # fmt: skip


def measure_ingestion(bench: Bench, *, pages: int) -> dict[str, Any]:
    workspace = Workspace.objects.create(name="Ingestion")
    source = source_add_file(
        workspace=workspace,
        added_by=bench.world.members[0],
        name="report.pdf",
        content_type="application/pdf",
        data=_pdf(pages),
    )
    started = time.perf_counter()
    source_ingest(source_id=source.pk, generation=source.generation)
    elapsed = time.perf_counter() - started
    source.refresh_from_db()
    return {
        "pages": source.pages,
        "chunks": source.chunk_count,
        "seconds": r(elapsed, 2),
        "pages_per_s": r((source.pages or 0) / elapsed, 2),
        "chunks_per_s": r(source.chunk_count / elapsed, 2),
        "embedding_threads": settings.KNOWLEDGE_EMBEDDING_THREADS,
        "status": source.status,
    }


def _corpus(bench: Bench) -> Workspace:
    workspace = Workspace.objects.create(name="Labelled corpus")
    for name, text in DOCUMENTS.items():
        source = source_add_file(
            workspace=workspace,
            added_by=bench.world.members[0],
            name=name,
            content_type="text/markdown",
            data=text.encode(),
        )
        source_ingest(source_id=source.pk, generation=source.generation)
        assert Source.objects.get(pk=source.pk).status == Source.Status.READY
    return workspace


def measure_recall(workspace: Workspace) -> dict[str, Any]:
    """Share of the labelled questions whose passage is among the first five found."""
    from knowledge.chunking import locator_label
    from knowledge.models import Chunk

    heading_of = {
        chunk.pk: locator_label(chunk.locator)
        for chunk in Chunk.objects.filter(workspace=workspace)
    }
    hits = {"fused": 0, "bm25": 0, "vector": 0}
    for question, heading in LABELLED.items():
        fused = [p.chunk_id for p in retrieve(workspace=workspace, query=question, k=5)]
        bm25 = text_search(workspace_id=workspace.pk, query=question, limit=5)
        vector = vector_search(
            workspace_id=workspace.pk, query_vector=query_embed(question), limit=5
        )
        for name, found in (("fused", fused), ("bm25", bm25), ("vector", vector)):
            hits[name] += any(heading_of.get(chunk_id) == heading for chunk_id in found)
    return {name: r(count / len(LABELLED), 3) for name, count in hits.items()} | {
        "questions": len(LABELLED)
    }


def measure_ttft_overhead(bench: Bench, workspace: Workspace, *, reps: int) -> dict[str, Any]:
    """First token with the passages (retrieval included) minus without."""
    from .measure_models import ask

    model = bench.model
    question = "How many vacation days do employees get, and how are expenses paid back?"
    turns = [Turn(speaker="alice", text=question)]
    scope = KnowledgeScope(workspace_id=workspace.pk, query=question, source_ids=None)
    differences, passages_given = [], 0
    model.engine.kept_states = KeptStates(capacity_bytes=0)  # every prompt read from scratch
    for _ in range(reps):
        without = ask(model, turns)[1]
        started = time.perf_counter()
        passages = passages_for(scope, model)
        retrieval_ms = (time.perf_counter() - started) * 1000
        with_sources = ask(model, turns, context=sources_block(passages))[1]
        differences.append(retrieval_ms + with_sources - without)
        passages_given = len(passages)
    model.engine.kept_states = KeptStates(capacity_bytes=settings.LLM_KEPT_STATES_MIB * 2**20)
    return {"p50": r(statistics.median(differences)), "passages": passages_given, "reps": reps}


def measure_scale(sizes: list[int]) -> list[dict[str, Any]]:
    """Retrieval at each size on SQLite, then on PostgreSQL where a server answers."""
    databases = [f"sqlite:///{settings.VAR_DIR / 'bench-knowledge.sqlite3'}"]
    for suffix in ("", "-wal", "-shm"):
        (settings.VAR_DIR / f"bench-knowledge.sqlite3{suffix}").unlink(missing_ok=True)
    postgres = _postgres_database()
    if postgres:
        databases.append(postgres)
    results: list[dict[str, Any]] = []
    for url in databases:
        out = subprocess.run(
            [sys.executable, "-m", "bench.knowledge_scale", url, *map(str, sizes)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "DATABASE_URL": url},
        ).stdout
        results += json.loads(out.strip().splitlines()[-1])
    return results


def _postgres_database() -> str | None:
    """A fresh database for the scale run on the PostgreSQL server of ``BENCH_POSTGRES_URL``
    (default: the local one), or None when none answers."""
    import psycopg

    url = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    parts = urlsplit(url)
    try:
        with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{SCALE_DB}" WITH (FORCE)')
            c.execute(f'CREATE DATABASE "{SCALE_DB}"')
    except psycopg.OperationalError:
        return None
    return urlunsplit(parts._replace(path=f"/{SCALE_DB}"))


def measure_chat_during_ingestion(bench: Bench, *, pages: int) -> dict[str, Any]:
    """Chat latency p99 with nothing being read, then while an ingest worker reads a PDF."""
    without = measure_chat.measure(bench)
    ingest = worker_start(bench.stack.env, queue="ingest", name="worker-ingest", log_dir=LOG_DIR)
    try:
        source = source_add_file(
            workspace=Workspace.objects.create(name="Large PDF"),
            added_by=bench.world.members[0],
            name="large.pdf",
            content_type="application/pdf",
            data=_pdf(pages),
        )
        while Source.objects.get(pk=source.pk).status == Source.Status.QUEUED:
            time.sleep(0.1)
        during = measure_chat.measure(bench)
        source.refresh_from_db()
        still_reading = source.status in Source.ACTIVE_STATUSES
    finally:
        processes_stop([ingest])
    return {
        "p99": during["p99"],
        "p99_without": without["p99"],
        "p50": during["p50"],
        "p50_without": without["p50"],
        "pages": pages,
        "ingestion_still_running_at_end": still_reading,
    }
