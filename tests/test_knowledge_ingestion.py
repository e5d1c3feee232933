"""Ingestion: a source is queued, read, cut, embedded and indexed, with progress and a cancel;
it steps aside while the models answer, and several sources are read at once.

The task's body (``source_ingest``) runs here in the test process, with the bundled embedding
model; the Celery task is recorded by ``sent_tasks`` instead of being sent. Sources read at
once run it on threads of their own, as the ingest worker's pool does.
"""

import os
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, overload

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from documents.models import Document
from jobs.models import ModelJob
from jobs.services import job_create, job_stop
from knowledge import events, services, tasks
from knowledge.embedding import StaticEmbedder, embedder_get
from knowledge.models import Chunk, Source
from knowledge.services import (
    chunks_reembed,
    documents_sources_sync,
    source_add_file,
    source_add_url,
    source_cancel,
    source_ingest,
    source_reindex,
    source_remove,
    sources_requeue_stale,
)

from .conftest import Team
from .factories import assistant_reply
from .knowledge_samples import CSV_LATIN1, MARKDOWN, SPEC_PAGES, parser_states, pdf_make
from .model_worker import in_background, in_threads, joined, reply_generate, until
from .published import Published

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


class SourceRows(Sequence[dict[str, Any]]):
    """The source rows announced to the sources page, in order, as published (a removal as
    ``{"removed": id}``)."""

    def __init__(self, published: Published) -> None:
        self._published = published

    def _rows(self) -> list[dict[str, Any]]:
        return [
            dict(event["source"])
            if event["type"] == events.SourceChanged.type
            else {"removed": event["id"]}
            for event in self._published.of(events.SourceChanged, events.SourceRemoved)
        ]

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        return self._rows()[index]

    def __len__(self) -> int:
        return len(self._rows())


@pytest.fixture(name="published")
def source_rows(published: Published) -> SourceRows:
    return SourceRows(published)


def _ingest(source: Source) -> Source:
    source.refresh_from_db()
    source_ingest(source_id=source.pk, generation=source.generation)
    source.refresh_from_db()
    return source


def _upload(team: Team, name: str, data: bytes, content_type: str = "") -> Source:
    return source_add_file(
        workspace=team.workspace,
        added_by=team.member,
        name=name,
        content_type=content_type,
        data=data,
    )


def test_an_uploaded_pdf_is_queued_then_indexed_page_by_page(
    team: Team, sent_tasks: list, published: list
) -> None:
    source = _upload(team, "spec.pdf", pdf_make(SPEC_PAGES))

    assert source.status == Source.Status.QUEUED
    assert sent_tasks == [("knowledge.ingest", [source.pk, source.generation])]
    assert published[0]["status"] == "queued"
    assert published[0]["added_by"] == "bob"

    source = _ingest(source)

    assert source.status == Source.Status.READY
    assert (source.pages, source.error) == (3, "")
    chunks = list(source.chunks.order_by("ordinal"))
    assert source.chunk_count == len(chunks) >= 1
    located = {chunk.text.split("\n")[0]: chunk.locator for chunk in chunks}
    assert any("42 milliwatts" in chunk.text for chunk in chunks)
    assert all("page" in locator for locator in located.values())
    power = next(chunk for chunk in chunks if "42 milliwatts" in chunk.text)
    assert power.locator["page"][0] <= 2 <= power.locator["page"][1]
    assert {(c.embedding_model, c.dimension) for c in chunks} == {
        (StaticEmbedder.name, StaticEmbedder.dimension)
    }
    vector = np.frombuffer(bytes(power.embedding or b""), dtype=np.float32)
    assert vector.shape == (StaticEmbedder.dimension,)
    assert abs(float(np.linalg.norm(vector)) - 1) < 1e-3
    statuses = [row["status"] for row in published]
    assert statuses[:2] == ["queued", "reading"]
    assert "indexing" in statuses
    assert statuses[-1] == "ready"


def test_a_csv_is_indexed_with_row_ranges(team: Team, sent_tasks: list, published: list) -> None:
    source = _ingest(_upload(team, "villes.csv", CSV_LATIN1))
    assert (source.status, source.rows) == (Source.Status.READY, 2)
    (chunk,) = source.chunks.all()
    assert chunk.locator == {"rows": [2, 3]}
    assert "Zürich" in chunk.text


def test_markdown_is_indexed_with_headings(team: Team, sent_tasks: list, published: list) -> None:
    source = _ingest(_upload(team, "handbook.md", MARKDOWN.encode()))
    assert [c.locator for c in source.chunks.order_by("ordinal")] == [
        {"heading": "Handbook"},
        {"heading": "Handbook › Setup › Install"},
        {"heading": "Handbook › Holidays"},
    ]


def test_a_scanned_pdf_fails_saying_it_has_no_text_layer(
    team: Team, sent_tasks: list, published: list
) -> None:
    source = _ingest(_upload(team, "scan.pdf", pdf_make([None, None, None])))
    assert source.status == Source.Status.FAILED
    assert "no text layer" in source.error
    assert source.chunks.count() == 0
    assert published[-1]["error"] == source.error


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("empty.txt", b"", "is empty"),
        ("report.pdf", b"hello", "named as a PDF but is not one"),
        ("photo.csv", b"\x89PNG\r\n\x1a\n...", "a PNG image"),
    ],
)
def test_an_unusable_upload_is_refused_at_once(
    team: Team, sent_tasks: list, name: str, data: bytes, says: str
) -> None:
    with pytest.raises(ValidationError, match=says):
        _upload(team, name, data)
    assert not Source.objects.exists()
    assert sent_tasks == []


def test_an_upload_over_the_size_limit_is_refused(
    team: Team, sent_tasks: list, settings: Any
) -> None:
    settings.KNOWLEDGE_MAX_BYTES = 1000
    with pytest.raises(ValidationError, match="the limit is"):
        _upload(team, "big.txt", b"x" * 1001)


class _Pages(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/trickle":
            self._trickle()
            return
        if self.path == "/spec.pdf":
            body, kind = pdf_make(SPEC_PAGES), "application/pdf"
        elif self.path == "/news":
            body = (
                b"<html><head><title>Widget news</title></head><body><article><h1>Launch</h1>"
                b"<p>The orbital widget launches on the ninth of March after three long years "
                b"of careful work by the whole team at the lab.</p></article></body></html>"
            )
            kind = "text/html; charset=utf-8"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _trickle(self) -> None:
        """A page that never ends, a few bytes at a time: no single read ever times out."""
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        for _ in range(600):  # a minute if nobody hangs up
            try:
                self.wfile.write(b"slow ")
                self.wfile.flush()
            except OSError:
                return
            time.sleep(0.1)


@pytest.fixture
def web_pages(settings: Any) -> Iterator[str]:
    settings.KNOWLEDGE_FETCH_ALLOW_LOOPBACK = True
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_web_page_is_fetched_and_indexed_under_its_title(
    team: Team, sent_tasks: list, published: list, web_pages: str
) -> None:
    source = source_add_url(workspace=team.workspace, added_by=team.owner, url=f"{web_pages}/news")
    source = _ingest(source)
    assert source.status == Source.Status.READY
    assert source.title == "Widget news"
    assert "ninth of March" in source.chunks.get().text


def test_a_pdf_by_url_is_indexed_with_its_pages(
    team: Team, sent_tasks: list, published: list, web_pages: str
) -> None:
    source = source_add_url(
        workspace=team.workspace, added_by=team.owner, url=f"{web_pages}/spec.pdf"
    )
    source = _ingest(source)
    assert (source.status, source.pages) == (Source.Status.READY, 3)


def test_a_url_to_a_private_address_fails_with_the_reason(
    team: Team, sent_tasks: list, published: list
) -> None:
    source = source_add_url(
        workspace=team.workspace, added_by=team.owner, url="http://169.254.169.254/latest/"
    )
    source = _ingest(source)
    assert source.status == Source.Status.FAILED
    assert "link-local" in source.error


def test_a_non_http_url_is_refused_at_once(team: Team, sent_tasks: list) -> None:
    with pytest.raises(ValidationError, match="Only http"):
        source_add_url(workspace=team.workspace, added_by=team.owner, url="file:///etc/passwd")


def test_cancelling_mid_indexing_stops_the_run_and_keeps_nothing_of_it(
    team: Team, sent_tasks: list, published: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _upload(team, "spec.pdf", pdf_make(SPEC_PAGES))
    embedder = embedder_get()
    real = embedder.passages

    def cancel_then_embed(texts: list[str]) -> np.ndarray:
        source_cancel(source=Source.objects.get(pk=source.pk), by=team.owner)
        return real(texts)

    monkeypatch.setattr(embedder, "passages", cancel_then_embed)
    source = _ingest(source)

    assert source.status == Source.Status.FAILED
    assert source.error == "Cancelled by alice."
    assert source.chunks.count() == 0
    assert published[-1]["error"] == "Cancelled by alice."


def test_a_cancelled_source_is_not_read_when_its_task_arrives(
    team: Team, sent_tasks: list, published: list
) -> None:
    source = _upload(team, "spec.pdf", pdf_make(SPEC_PAGES))
    (_, (source_id, generation)) = sent_tasks[0]
    assert source_cancel(source=source, by=team.member)
    source_ingest(source_id=source_id, generation=generation)
    source.refresh_from_db()
    assert (source.status, source.error) == (Source.Status.FAILED, "Cancelled by bob.")
    assert not source_cancel(source=source, by=team.member)  # nothing left to cancel


def test_reindexing_replaces_the_passages_and_a_stale_run_does_nothing(
    team: Team, sent_tasks: list, published: list
) -> None:
    source = _ingest(_upload(team, "spec.pdf", pdf_make(SPEC_PAGES)))
    old_ids = set(source.chunks.values_list("id", flat=True))
    old_generation = source.generation

    source_reindex(source=source)
    source.refresh_from_db()
    assert source.status == Source.Status.QUEUED
    assert set(source.chunks.values_list("id", flat=True)) == old_ids  # still searchable
    source_ingest(source_id=source.pk, generation=old_generation)  # a late duplicate
    assert Source.objects.get(pk=source.pk).status == Source.Status.QUEUED

    source = _ingest(source)
    assert source.status == Source.Status.READY
    new_ids = set(source.chunks.values_list("id", flat=True))
    assert new_ids
    assert not new_ids & old_ids
    assert sent_tasks[-1] == ("knowledge.ingest", [source.pk, source.generation])


def test_a_source_whose_whole_read_outlasts_its_limit_fails_saying_so_and_keeps_its_index(
    team: Team, sent_tasks: list, published: list, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parsing and embedding, each well within its own limits, together past the source's."""
    source = _ingest(_upload(team, "spec.pdf", pdf_make(SPEC_PAGES)))
    indexed = set(source.chunks.values_list("id", flat=True))
    settings.KNOWLEDGE_SOURCE_TIMEOUT_S = 1.0
    embedder = embedder_get()
    real = embedder.passages

    def embed_slowly(texts: list[str]) -> np.ndarray:
        began = time.monotonic()
        until(lambda: time.monotonic() - began > 1.0, what="the source's time limit passing")
        return real(texts)

    monkeypatch.setattr(embedder, "passages", embed_slowly)
    source_reindex(source=source)
    source = _ingest(source)

    assert source.status == Source.Status.FAILED
    assert source.error == (
        "Reading it took longer than 1 s, the limit for one source: stopped. "
        "Split it into smaller files. The previous index is still used."
    )
    assert set(source.chunks.values_list("id", flat=True)) == indexed
    assert published[-1]["error"] == source.error


def test_the_time_a_run_waits_for_answers_does_not_count_against_its_limit(
    team: Team, sent_tasks: list, published: list, settings: Any
) -> None:
    settings.KNOWLEDGE_SOURCE_TIMEOUT_S = 10.0
    now = [0.0]
    run = services._Run(_upload(team, "handbook.md", MARKDOWN.encode()), clock=lambda: now[0])
    now[0] = 6.0
    run.waiting(True)
    now[0] = 106.0  # a hundred seconds of answers
    run.waiting(False)
    run.within_time()  # 6 s of work
    now[0] = 110.5
    with pytest.raises(services.TookTooLong):
        run.within_time()  # 10.5 s of work


def test_running_the_same_ingestion_twice_changes_nothing(
    team: Team, sent_tasks: list, published: list
) -> None:
    source = _ingest(_upload(team, "handbook.md", MARKDOWN.encode()))
    ids = set(source.chunks.values_list("id", flat=True))
    source = _ingest(source)
    assert set(source.chunks.values_list("id", flat=True)) == ids


def test_removing_a_source_removes_its_passages(
    team: Team, sent_tasks: list, published: list
) -> None:
    source = _ingest(_upload(team, "handbook.md", MARKDOWN.encode()))
    source_id = source.pk
    source_remove(source=source)
    assert not Chunk.objects.exists()
    assert published[-1] == {"removed": source_id}


def _document(team: Team, text: str) -> Document:
    return Document.objects.create(
        workspace=team.workspace,
        title="Launch plan",
        created_by=team.owner,
        text=text,
        text_at=timezone.now(),
    )


def test_shared_documents_become_sources_and_are_reindexed_after_they_change(
    team: Team, sent_tasks: list, published: list
) -> None:
    Document.objects.create(workspace=team.workspace, title="Empty", created_by=team.owner)
    document = _document(team, "# Plan\n\nShip the widget in March.")

    assert documents_sources_sync() == 1
    source = _ingest(Source.objects.get(document=document))
    assert (source.kind, source.status, source.title) == ("document", "ready", "Launch plan")
    assert "March" in source.chunks.get().text
    assert documents_sources_sync() == 0  # unchanged: nothing to do

    document.text = "# Plan\n\nShip the widget in April."
    document.text_at = timezone.now() + timedelta(seconds=1)
    document.save()
    assert documents_sources_sync() == 1
    source = _ingest(source)
    assert "April" in source.chunks.get().text

    with pytest.raises(ValidationError, match="delete the document"):
        source_remove(source=source)
    document.deleted_at = timezone.now()
    document.save()
    documents_sources_sync()
    assert not Source.objects.exists()


def test_passages_of_another_embedding_model_are_embedded_again(
    team: Team, sent_tasks: list, published: list
) -> None:
    source = _ingest(_upload(team, "handbook.md", MARKDOWN.encode()))
    source.chunks.update(embedding_model="gguf/old.gguf", dimension=8, embedding=b"\0" * 32)

    assert chunks_reembed() == 3
    assert set(source.chunks.values_list("embedding_model", "dimension")) == {
        (StaticEmbedder.name, StaticEmbedder.dimension)
    }
    assert chunks_reembed() == 0


def test_an_unexpected_error_fails_the_source_without_detail(
    team: Team, sent_tasks: list, published: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(services, "chunks_make", broken)
    source = _ingest(_upload(team, "handbook.md", MARKDOWN.encode()))
    assert source.status == Source.Status.FAILED
    assert source.error == services.FAILED_UNEXPECTEDLY


def test_an_ingestion_whose_task_was_lost_is_queued_again(
    team: Team, sent_tasks: list, published: list
) -> None:
    lost = _upload(team, "handbook.md", MARKDOWN.encode())
    waiting = _upload(team, "spec.pdf", pdf_make(SPEC_PAGES))
    Source.objects.filter(pk=lost.pk).update(
        status=Source.Status.READING, heartbeat_at=timezone.now() - timedelta(minutes=20)
    )
    sent_tasks.clear()

    assert sources_requeue_stale(silent_for=timedelta(minutes=15)) == 1
    assert sent_tasks == [("knowledge.ingest", [lost.pk, lost.generation])]
    assert sources_requeue_stale(silent_for=timedelta(minutes=15)) == 0  # it is alive again
    source = _ingest(lost)  # the run resumes the generation it was reading
    assert source.status == Source.Status.READY
    assert Source.objects.get(pk=waiting.pk).status == Source.Status.QUEUED


def test_a_document_that_cannot_be_read_waits_for_its_next_change(
    team: Team, sent_tasks: list, published: list, settings: Any
) -> None:
    settings.KNOWLEDGE_MAX_CHARACTERS = 20
    document = _document(team, "# Plan\n\nFar more than twenty characters of text.")
    documents_sources_sync()
    source = _ingest(Source.objects.get(document=document))
    assert source.status == Source.Status.FAILED
    assert "more than 20 characters" in source.error
    assert documents_sources_sync() == 0  # not read again and again

    document.text = "# Plan\n\nShort."
    document.text_at = timezone.now() + timedelta(seconds=1)
    document.save()
    assert documents_sources_sync() == 1
    assert _ingest(source).status == Source.Status.READY


def test_a_cancelled_document_source_waits_for_its_next_change(
    team: Team, sent_tasks: list, published: list
) -> None:
    document = _document(team, "# Plan\n\nShip the widget in March.")
    documents_sources_sync()
    source = Source.objects.get(document=document)
    assert source_cancel(source=source, by=team.owner)
    assert documents_sources_sync() == 0


def test_a_document_emptied_of_text_leaves_no_passages_and_a_rename_follows(
    team: Team, sent_tasks: list, published: list
) -> None:
    document = _document(team, "# Plan\n\nShip the widget in March.")
    documents_sources_sync()
    source = _ingest(Source.objects.get(document=document))
    assert source.chunks.count() == 1
    Document.objects.filter(pk=document.pk).update(title="Plan B")
    assert documents_sources_sync() == 0  # a rename is not a change of text...
    assert Source.objects.get(pk=source.pk).title == "Plan B"  # ...but the title follows
    assert published[-1]["title"] == "Plan B"

    document.text = ""
    document.title = "Old plan"
    document.text_at = timezone.now() + timedelta(seconds=1)
    document.save()
    assert documents_sources_sync() == 1
    source = _ingest(source)
    assert (source.status, source.chunk_count, source.title) == ("ready", 0, "Old plan")
    assert not source.chunks.exists()


def test_progress_counts_pages_or_rows_while_reading_then_passages(
    team: Team,
    sent_tasks: list,
    published: list,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(services, "PROGRESS_EVERY_S", 0)  # every step announced
    embedder = embedder_get()  # the figures are the subject here, not the vectors
    monkeypatch.setattr(
        embedder, "passages", lambda texts: np.ones((len(texts), embedder.dimension), "f4")
    )
    rows = "name,city\n" + "".join(f"person {n},Paris\n" for n in range(2500))
    _ingest(_upload(team, "people.csv", rows.encode()))
    reading = [row for row in published if row["status"] == "reading" and row["of"]]
    assert reading
    assert {row["unit"] for row in reading} == {"rows"}
    assert {row["unit"] for row in published if row["status"] == "indexing"} == {"passages"}
    before = len(published)
    _ingest(_upload(team, "spec.pdf", pdf_make(SPEC_PAGES)))
    assert {row["unit"] for row in published[before:] if row["status"] == "reading"} == {"pages"}


# --- Answers first ------------------------------------------------------------------------


def _ingest_in_background(source: Source) -> threading.Thread:
    """The source read on a thread of its own, as one of the ingest worker's pool."""
    return in_background(lambda: source_ingest(source_id=source.pk, generation=source.generation))


def _row(source: Source) -> Source:
    return Source.objects.get(pk=source.pk)


def _job_status(job: ModelJob) -> str:
    return ModelJob.objects.values_list("status", flat=True).get(pk=job.pk)


def _shown_waiting(published: list[dict[str, Any]]) -> bool:
    return bool(published) and published[-1]["waiting"] is True


@pytest.mark.usefixtures("fake_model")
def test_ingestion_waits_while_an_answer_is_queued_or_running_and_goes_on_once_it_ends(
    team: Team, sent_tasks: list, published: list, settings: Any
) -> None:
    settings.LLM_FAKE_ANSWER_TOKENS = 100_000  # the stand-in answers until it is stopped
    reply = assistant_reply(thread=team.thread, asker=team.owner)
    job = ModelJob.objects.get(answer__pk=reply.pk)
    source = _upload(team, "spec.pdf", pdf_make(SPEC_PAGES))

    ingesting = _ingest_in_background(source)
    until(lambda: _shown_waiting(published), what="the row showing it waits for the answer")

    answering = in_background(lambda: reply_generate(reply_id=reply.pk))
    until(lambda: _job_status(job) == "running", what="the answer running")
    row = _row(source)
    assert (row.status, row.waiting_for_answers, row.chunk_count) == ("queued", True, 0)

    assert job_stop(job, by=team.owner, reason="enough")
    joined(answering)
    joined(ingesting)
    row = _row(source)
    assert (row.status, row.waiting_for_answers) == ("ready", False)
    assert row.chunk_count
    assert _job_status(job) == "stopped"
    assert published[-1]["waiting"] is False


def test_ingestion_does_not_wait_when_models_run_elsewhere(
    team: Team, sent_tasks: list, published: list, settings: Any
) -> None:
    settings.KNOWLEDGE_YIELD_TO_MODEL_JOBS = False
    job_create(kind="answer", requested_by=team.owner, workspace_id=team.workspace.pk)
    source = _ingest(_upload(team, "handbook.md", MARKDOWN.encode()))
    assert source.status == Source.Status.READY
    assert not any(row["waiting"] for row in published)


def test_answers_nonstop_slow_ingestion_down_but_never_stop_it(
    team: Team, sent_tasks: list, published: list, settings: Any
) -> None:
    """A job that keeps running: each wait ends after KNOWLEDGE_YIELD_MAX_WAIT_S and one step
    proceeds, until the source is indexed."""
    settings.KNOWLEDGE_YIELD_MAX_WAIT_S = 0.3
    job = job_create(kind="answer", requested_by=team.owner, workspace_id=team.workspace.pk)
    ModelJob.objects.filter(pk=job.pk).update(status=ModelJob.Status.RUNNING)
    source = _ingest(_upload(team, "spec.pdf", pdf_make(SPEC_PAGES)))
    assert source.status == Source.Status.READY
    assert not source.waiting_for_answers
    waits = [n for n, row in enumerate(published) if row["waiting"]]
    assert len(waits) >= 2  # before reading, and between its steps
    assert published[-1]["status"] == "ready"


def test_a_job_queued_long_ago_that_never_started_is_not_waited_for(
    team: Team, sent_tasks: list, published: list
) -> None:
    """Its model's worker is away: waiting for it would only hold ingestion up."""
    job = job_create(kind="answer", requested_by=team.owner, workspace_id=team.workspace.pk)
    ModelJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    source = _ingest(_upload(team, "handbook.md", MARKDOWN.encode()))
    assert source.status == Source.Status.READY
    assert not any(row["waiting"] for row in published)


def test_a_source_waiting_for_answers_is_cancelled_at_once(
    team: Team, sent_tasks: list, published: list
) -> None:
    job_create(kind="answer", requested_by=team.owner, workspace_id=team.workspace.pk)
    source = _upload(team, "spec.pdf", pdf_make(SPEC_PAGES))
    ingesting = _ingest_in_background(source)
    until(lambda: _shown_waiting(published), what="the row showing it waits for the answer")

    cancelled_at = time.monotonic()
    assert source_cancel(source=_row(source), by=team.owner)
    joined(ingesting)
    assert time.monotonic() - cancelled_at < 5  # not at the end of the wait (30 s)
    row = _row(source)
    assert (row.status, row.error, row.chunk_count) == ("failed", "Cancelled by alice.", 0)
    assert not row.waiting_for_answers
    source_reindex(source=row)
    assert published[-1]["waiting"] is False  # queued again, not shown as waiting


def test_a_source_cancelled_while_its_parse_waits_for_answers_stops_and_leaves_no_parser(
    team: Team, sent_tasks: list, published: list, settings: Any
) -> None:
    settings.KNOWLEDGE_YIELD_MAX_WAIT_S = 1  # the wait before reading ends, then each page waits
    job = job_create(kind="answer", requested_by=team.owner, workspace_id=team.workspace.pk)
    ModelJob.objects.filter(pk=job.pk).update(status=ModelJob.Status.RUNNING)
    source = _upload(team, "long.pdf", pdf_make(SPEC_PAGES * 50))
    ingesting = _ingest_in_background(source)

    def paused_mid_parse() -> bool:
        row = _row(source)
        return row.status == "reading" and row.progress_done > 0 and row.waiting_for_answers

    until(paused_mid_parse, what="the parse paused between two pages")
    until(lambda: parser_states() == ["T"], what="the parser stopped meanwhile")
    cancelled_at = time.monotonic()
    assert source_cancel(source=_row(source), by=team.owner)
    joined(ingesting)
    assert time.monotonic() - cancelled_at < 5
    assert _row(source).status == "failed"
    assert parser_states() == []  # killed, not left stopped


# --- Several sources at once --------------------------------------------------------------


def test_a_trickling_server_fails_its_source_at_the_time_limit_while_another_is_read(
    team: Team, sent_tasks: list, published: list, web_pages: str, settings: Any
) -> None:
    settings.KNOWLEDGE_FETCH_TIMEOUT_S = 5
    slow = source_add_url(workspace=team.workspace, added_by=team.owner, url=f"{web_pages}/trickle")
    behind = _upload(team, "handbook.md", MARKDOWN.encode())
    embedder_get()  # loaded before the clock starts

    started = time.monotonic()
    fetching = _ingest_in_background(slow)
    until(lambda: _row(slow).status == "reading", what="the slow page being fetched")
    reading_behind = _ingest_in_background(behind)
    until(lambda: _row(behind).status == "ready", what="the source behind it read")
    assert _row(slow).status == "reading"  # still trickling in
    joined(reading_behind)
    joined(fetching)
    elapsed = time.monotonic() - started

    row = _row(slow)
    assert (row.status, row.error) == ("failed", "Fetching took longer than 5 s: stopped.")
    assert 5 <= elapsed < 5 + 3


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux's idle scheduling class")
def test_every_thread_of_the_ingest_pool_runs_at_the_lowest_priority(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A niceness and a scheduling class are a thread's on Linux: each of the pool's threads
    must lower itself, not only the first."""
    monkeypatch.setattr(tasks, "AUTOGROUP", tmp_path / "autogroup")  # not this test run's group
    priorities: list[tuple[int, int]] = []

    def a_task_on_a_pool_thread() -> None:
        tasks.ingest(source_id=0, generation=0)  # no such source: nothing to read
        priorities.append((os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0)))

    in_threads(a_task_on_a_pool_thread, a_task_on_a_pool_thread)
    assert priorities == [(os.SCHED_IDLE, tasks.INGEST_NICENESS)] * 2
    assert os.sched_getscheduler(0) != os.SCHED_IDLE  # the thread that started them is as it was
