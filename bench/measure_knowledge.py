"""Knowledge: ingestion speed, the embedders side by side, retrieval at scale on both databases,
recall@5, which passages answers are given, what retrieval adds to an answer's first token, and
answers and chat while a large PDF is being read.

- Ingestion: a generated document of each kind (plain text, Markdown, HTML, a PDF with a text
  layer) read, cut, embedded and indexed in the bench process (``source_ingest``, what the
  ingest worker runs): passages/s for each, the slowest kind's as the figure, and pages/s.
- Embedders: each built-in embedder's speed on the same passages, timed in turns so that both
  see the same machine, and its recall@5 on both labelled sets.
- Retrieval at scale: ``bench.knowledge_scale`` in a process per database (the bench's SQLite
  file, and PostgreSQL when ``BENCH_POSTGRES_URL`` or the local server answers), then its
  approximate vector index alone at 1,000,000 generated vectors (5,000 in the smoke run; 1 to
  2 minutes on two busy cores, most of it making the vectors and exact search's answers).
- Recall@5 on ``bench.knowledge_corpus`` (25 questions, labelled by heading) and on
  ``bench.knowledge_corpus_varied`` (58 questions over eight documents of four kinds, labelled
  by a phrase of the answering passage, asked of a workspace holding both corpora): fused,
  full-text alone, vectors alone.
- Source relevance (``bench.source_relevance``, also alone: ``python -m bench.relevance_alone``):
  of the passages an answer would be given on both labelled sets, the share that answer the
  question (precision), the questions given their answer (recall) and the tokens the sources
  block adds; and that questions about something else are given none.
- TTFT overhead: an answer's first token with its passages (retrieval and the longer prompt)
  minus without, on the default model in this process, nothing kept between runs.
- Answers during ingestion: the default model's time to first token (p95) and tokens/s in
  this process, nothing kept between answers, on an idle machine and then while an ``ingest``
  worker (its own process, at its own priority) reads a 300-page PDF. Each answer is recorded
  as the running model job it would be, as every real answer is: the ingest worker steps aside
  while one runs (``knowledge.answers_first``, on by default).
- Chat latency during ingestion: the chat measurement while an ``ingest`` worker reads a
  300-page PDF, beside the same measurement just before with nothing being read.
"""

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

from api.completion_jobs import COMPLETION_KIND
from assistant.grounding import passages_for, sources_block
from chat.answering import KnowledgeScope
from harness.live_stack import ingest_worker_start, processes_stop
from harness.pdf import pdf_make
from jobs.models import ModelJob
from jobs.services import job_create, job_end, job_start
from knowledge.embedding import EMBEDDERS, embedder_get, embedding_model_name
from knowledge.models import Chunk, Source
from knowledge.search import query_embed, text_search, vector_search
from knowledge.selectors import retrieve
from knowledge.services import source_add_file, source_ingest
from llm.inference import InferenceRequest, InferenceResult, infer
from llm.kept_states import KeptStates
from llm.prompt import Turn
from workspace.models import Workspace

from . import knowledge_corpus, knowledge_corpus_varied, measure_chat, source_relevance
from .context import Bench
from .source_relevance import (
    Labelled,
    answers_by_heading,
    answers_by_phrase,
    corpus_make,
    labelled_documents,
    varied_documents,
)
from .stack import LOG_DIR
from .stats import percentile, r

SCALE_DB = "roundtable_bench_knowledge"
ANSWER_QUESTION = "What should a team write in a short weekly status update?"
ANSWER_TOKENS = 64
LINES_PER_PAGE = 40
PASSAGES_PER_PDF_PAGE = 4  # a page of _pdf is about 3,700 characters


def measure(bench: Bench) -> dict[str, Any]:
    smoke = bench.config.smoke
    bench.progress("12. knowledge: ingestion, embedders, retrieval at scale, recall, TTFT, chat")
    ingestion = measure_ingestion(bench, passages=30 if smoke else 400)
    bench.progress(f"   ingestion: {ingestion}")
    embedders = measure_embedders(bench, passages=8 if smoke else 32, recall_of_all=not smoke)
    bench.progress(f"   embedders: {embedders}")
    corpus = _corpus(bench, labelled_documents())
    recall = next(row["recall_at_5"] for row in embedders if row["name"] == embedding_model_name())
    relevance = source_relevance.measure(
        small=corpus,
        both=_corpus(bench, labelled_documents() | varied_documents()),
        model=bench.model,
    )
    bench.progress(f"   source relevance: {relevance}")
    overhead = measure_ttft_overhead(bench, corpus, reps=2 if smoke else 5)
    bench.progress(f"   retrieval TTFT overhead: {overhead}")
    sizes = [1000] if smoke else [10_000, 100_000]
    scale = measure_scale(sizes, index_alone=5_000 if smoke else 1_000_000)
    bench.progress(f"   retrieval at scale: {scale}")
    pages = 30 if smoke else 300
    answers = measure_answers_during_ingestion(bench, pages=pages, reps=3 if smoke else 12)
    bench.progress(f"   answers during ingestion: {answers}")
    during = measure_chat_during_ingestion(bench, pages=pages)
    bench.progress(f"   chat during ingestion: {during}")
    return {
        "ingestion": ingestion,
        "embedders": embedders,
        "retrieval_ms": scale,
        "recall_at_5": recall,
        "source_relevance": relevance,
        "retrieval_ttft_overhead_ms": overhead,
        "answers_during_ingestion": answers,
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


def _paragraph(n: int) -> str:
    """About 500 characters of prose that differs from one paragraph to the next."""
    return (
        f"Item {n} of the plan: the team in region {n % 9} reviewed supplier {n * 7 % 101} and "
        f"found that deliveries took {n % 12 + 2} days on average, against a target of five. "
        f"Costs rose by {n % 17} percent over the quarter, mostly from freight and storage, and "
        f"the warehouse in district {n % 23} ran out of packaging twice. The next review, on "
        f"day {n % 28 + 1}, will decide whether order {n * 13} moves to the second supplier and "
        f"whether the safety stock of part {n * 31 % 997} should double before the winter peak."
    )


def _documents(passages: int) -> dict[str, tuple[str, bytes]]:
    """A document of each kind with about ``passages`` passages: (media type, bytes)."""
    paragraphs = [_paragraph(n) for n in range(2 * passages)]  # two fill a passage
    sections = [paragraphs[i : i + 2] for i in range(0, len(paragraphs), 2)]
    markdown = "".join(
        f"## Section {i}\n\n" + "\n\n".join(pair) + "\n\n" for i, pair in enumerate(sections)
    )
    html = "".join(
        f"<h2>Section {i}</h2>" + "".join(f"<p>{p}</p>" for p in pair)
        for i, pair in enumerate(sections)
    )
    pages = -(-passages // PASSAGES_PER_PDF_PAGE)
    return {
        "report.txt": ("text/plain", "\n\n".join(paragraphs).encode()),
        "report.md": ("text/markdown", markdown.encode()),
        "report.html": ("text/html", f"<html><body><main>{html}</main></body></html>".encode()),
        "report.pdf": ("application/pdf", _pdf(pages)),
    }


def measure_ingestion(bench: Bench, *, passages: int) -> dict[str, Any]:
    """Each kind read, cut, embedded and indexed as the ingest worker does it, one at a time."""
    workspace = Workspace.objects.create(name="Ingestion")
    by_kind: dict[str, dict[str, Any]] = {}
    for name, (content_type, data) in _documents(passages).items():
        source = source_add_file(
            workspace=workspace,
            added_by=bench.world.members[0],
            name=name,
            content_type=content_type,
            data=data,
        )
        started = time.perf_counter()
        source_ingest(source_id=source.pk, generation=source.generation)
        elapsed = time.perf_counter() - started
        source.refresh_from_db()
        assert source.status == Source.Status.READY, (name, source.error)
        kind = by_kind[name.rsplit(".", 1)[1]] = {
            "passages": source.chunk_count,
            "seconds": r(elapsed, 2),
            "passages_per_s": r(source.chunk_count / elapsed, 1),
        }
        if source.pages:
            kind |= {"pages": source.pages, "pages_per_s": r(source.pages / elapsed, 1)}
    slowest = min(kind["passages_per_s"] for kind in by_kind.values())
    return {
        "passages_per_s": slowest,
        "chunks_per_s": slowest,
        "pages_per_s": by_kind["pdf"]["pages_per_s"],
        "embedder": embedding_model_name(),
        "by_kind": by_kind,
        "load_average": r(os.getloadavg()[0], 2),
    }


def measure_embedders(bench: Bench, *, passages: int, recall_of_all: bool) -> list[dict[str, Any]]:
    """Each built-in embedder: passages/s on the same passages, the embedders timed in turns
    (twice each, the faster kept) so that both see the same machine; recall@5 on both sets,
    of each embedder (``recall_of_all``) or of the configured one alone (the others' is None:
    the smoke run's, where e5 would take most of the section to index the corpora)."""
    from django.conf import settings

    configured = settings.KNOWLEDGE_EMBEDDER
    texts = [_paragraph(n) + " " + _paragraph(n + 1) for n in range(passages)]
    rows = []
    try:
        timings: dict[str, list[float]] = {name: [] for name in EMBEDDERS}
        for _ in range(2):
            for name in EMBEDDERS:
                settings.KNOWLEDGE_EMBEDDER = name
                embedder_get.cache_clear()
                embedder = embedder_get()
                embedder.passages(texts[:2])  # loaded and warm
                started = time.perf_counter()
                embedder.passages(texts)
                timings[name].append(time.perf_counter() - started)
        for name in EMBEDDERS:
            settings.KNOWLEDGE_EMBEDDER = name
            embedder_get.cache_clear()
            rows.append({
                "name": embedding_model_name(),
                "dimension": embedder_get().dimension,
                "passages_per_s": r(passages / min(timings[name]), 1),
                "recall_at_5": (
                    measure_recall(bench) if recall_of_all or name == configured else None
                ),
            })  # fmt: skip
    finally:
        settings.KNOWLEDGE_EMBEDDER = configured
        embedder_get.cache_clear()
    return rows


def _corpus(bench: Bench, documents: dict[str, tuple[str, bytes]]) -> Workspace:
    return corpus_make(documents, added_by=bench.world.members[0])


def measure_recall(bench: Bench) -> dict[str, Any]:
    """Recall@5 of the configured embedder on the 25 questions labelled by heading, and (under
    ``varied``) on the 58 labelled by phrase, asked of both corpora together."""
    small = labelled_documents()
    labelled = _recall(_corpus(bench, small), knowledge_corpus.LABELLED, answers_by_heading)
    return labelled | {
        "varied": _recall(
            _corpus(bench, small | varied_documents()),
            knowledge_corpus_varied.LABELLED,
            answers_by_phrase,
        )
    }


def _recall(
    workspace: Workspace, labelled: dict[str, str], answers: Callable[[Labelled, str], bool]
) -> dict[str, Any]:
    """Share of the labelled questions with a passage that ``answers`` them among the first
    five found: fused, full-text alone, vectors alone."""
    chunks = Chunk.objects.filter(workspace=workspace).in_bulk()
    hits = {"fused": 0, "bm25": 0, "vector": 0}
    for question, label in labelled.items():
        fused = [p.chunk_id for p in retrieve(workspace=workspace, query=question, k=5)]
        bm25 = text_search(workspace_id=workspace.pk, query=question, limit=5)
        vector = vector_search(
            workspace_id=workspace.pk, query_vector=query_embed(question), limit=5
        )
        for name, found in (("fused", fused), ("bm25", bm25), ("vector", vector)):
            hits[name] += any(answers(chunks[chunk_id], label) for chunk_id in found)
    return {name: r(count / len(labelled), 3) for name, count in hits.items()} | {
        "questions": len(labelled),
        "passages": len(chunks),
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


def measure_scale(sizes: list[int], *, index_alone: int) -> list[dict[str, Any]]:
    """Retrieval at each size on SQLite, then on PostgreSQL where a server answers; then the
    approximate vector index alone at ``index_alone`` vectors."""
    databases = [f"sqlite:///{settings.VAR_DIR / 'bench-knowledge.sqlite3'}"]
    for suffix in ("", "-wal", "-shm"):
        (settings.VAR_DIR / f"bench-knowledge.sqlite3{suffix}").unlink(missing_ok=True)
    postgres = _postgres_database()
    if postgres:
        databases.append(postgres)
    runs = [([url, *map(str, sizes)], url) for url in databases]
    runs.append((["--index", str(index_alone)], databases[0]))
    results: list[dict[str, Any]] = []
    for arguments, url in runs:
        out = subprocess.run(
            [sys.executable, "-m", "bench.knowledge_scale", *arguments],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "DATABASE_URL": url},
        ).stdout
        measured = json.loads(out.strip().splitlines()[-1])
        results += measured if isinstance(measured, list) else [measured]
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


@contextmanager
def _running_as_a_model_job() -> Iterator[None]:
    """What runs inside, recorded as a model job (an API completion's: no workspace), running
    then done, as the worker records a real one."""
    job = job_create(kind=COMPLETION_KIND, requested_by=None)
    job_start(job)
    try:
        yield
    finally:
        job_end(job, status=ModelJob.Status.DONE)


def _answer(bench: Bench) -> tuple[float, float]:
    """One answer of the default model in this process, its prompt read from scratch, as a
    model job: its time to first token (ms) and tokens/s."""
    bench.model.engine.kept_states = KeptStates(capacity_bytes=0)
    with _running_as_a_model_job():
        result = _infer_once(bench)
    return result.time_to_first_token_ms or float("nan"), result.tokens_per_second or 0.0


def _infer_once(bench: Bench) -> InferenceResult:
    return infer(
        bench.model,
        InferenceRequest(
            system=settings.LLM_SYSTEM_PROMPT,
            turns=[Turn(speaker="alice", text=ANSWER_QUESTION)],
            assistant_name="a",
            max_tokens=ANSWER_TOKENS,
            temperature=0.0,
            repeat_penalty=1.0,
        ),
        on_piece=lambda piece: None,
        should_stop=lambda: False,
    )


def _answers_summary(answers: list[tuple[float, float]]) -> tuple[float | None, float | None]:
    return (
        r(percentile([ttft for ttft, _ in answers], 95)),
        r(statistics.median(rate for _, rate in answers), 1),
    )


@contextmanager
def _pdf_being_read(bench: Bench, *, pages: int, workspace_name: str) -> Iterator[Source]:
    """A ``pages``-page PDF being read by an ingest worker of its own (stopped afterwards);
    yields once the worker has taken it."""
    ingest = ingest_worker_start(bench.stack.env, log_dir=LOG_DIR)
    try:
        source = source_add_file(
            workspace=Workspace.objects.create(name=workspace_name),
            added_by=bench.world.members[0],
            name="large.pdf",
            content_type="application/pdf",
            data=_pdf(pages),
        )
        while Source.objects.get(pk=source.pk).status == Source.Status.QUEUED:
            time.sleep(0.1)
        yield source
    finally:
        processes_stop([ingest])


def measure_answers_during_ingestion(bench: Bench, *, pages: int, reps: int) -> dict[str, Any]:
    """TTFT p95 and tokens/s of answers on an idle machine, then while an ingest worker reads a
    ``pages``-page PDF; only answers that ended while the PDF was still being read count."""
    _answer(bench)  # warm
    idle = [_answer(bench) for _ in range(reps)]
    with _pdf_being_read(bench, pages=pages, workspace_name="Large PDF, answers") as source:
        during = []
        for _ in range(reps):
            answer = _answer(bench)
            if Source.objects.get(pk=source.pk).status not in Source.ACTIVE_STATUSES:
                break
            during.append(answer)
        source.refresh_from_db()
    ttft_idle, rate_idle = _answers_summary(idle)
    ttft, rate = _answers_summary(during) if during else (None, None)
    return {
        "ttft_ms_p95": ttft,
        "ttft_ms_p95_idle": ttft_idle,
        "tokens_per_s": rate,
        "tokens_per_s_idle": rate_idle,
        "answers": len(during),
        "answers_idle": len(idle),
        "pages": pages,
        "pdf_status": source.status,
        "pdf_passages": source.chunk_count,
    }


def measure_chat_during_ingestion(bench: Bench, *, pages: int) -> dict[str, Any]:
    """Chat latency p99 with nothing being read, then while an ingest worker reads a PDF."""
    without = measure_chat.measure(bench)
    with _pdf_being_read(bench, pages=pages, workspace_name="Large PDF") as source:
        during = measure_chat.measure(bench)
        source.refresh_from_db()
        still_reading = source.status in Source.ACTIVE_STATUSES
    return {
        "p99": during["p99"],
        "p99_without": without["p99"],
        "p50": during["p50"],
        "p50_without": without["p50"],
        "pages": pages,
        "ingestion_still_running_at_end": still_reading,
    }
