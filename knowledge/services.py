"""Writes about knowledge: adding, removing, re-indexing and cancelling sources, and ingestion.

Each change commits, then tells the workspace's sources page (``events``) and, where there is
work to do, enqueues ``knowledge.ingest`` with the source's id and *generation*. A change to a
workspace's passages bumps its ``PassagesVersion`` in the same transaction
(``passages_changed``), which is how every process's cached vectors learn of it. Re-indexing and
cancelling bump the generation: a run of an older generation finds its source moved on and
stops at its next progress step, and never replaces the newer run's passages.
"""

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial

from celery import current_app as celery_app
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from documents.models import Document
from workspace.models import Workspace

from . import events
from .answers_first import AnswersFirst
from .chunking import Piece, chunks_make
from .embedding import embedder_get, embedding_model_name, vector_bytes
from .fetching import FetchError, FetchRefused, url_check, url_fetch
from .models import Chunk, PassagesVersion, Source
from .parsing import Parsed, ParseError, kind_detect, parse_isolated

logger = logging.getLogger(__name__)

INGEST_TASK = "knowledge.ingest"
# Passages embedded in one call: large enough that the per-call cost vanishes (the static
# embedder does a batch in one gather), small enough that progress and cancelling stay prompt.
EMBED_BATCH = 64
PROGRESS_EVERY_S = 0.5  # at most this often a progress step is saved and announced
FAILED_UNEXPECTEDLY = "Something went wrong while reading it: try Re-index."


class Cancelled(Exception):
    """The source was cancelled, re-indexed or removed while this run was reading it."""


class TookTooLong(Exception):
    """The run worked longer than KNOWLEDGE_SOURCE_TIMEOUT_S on its source."""


def _person(user: User | None) -> str:
    return (user.get_full_name() or user.get_username()) if user else "someone"


def _enqueue(source: Source) -> None:
    """After the commit: show the source queued, and queue its ingestion."""
    Source.objects.filter(pk=source.pk).update(heartbeat_at=timezone.now())
    source_id, generation = source.pk, source.generation
    transaction.on_commit(lambda: events.source_publish(source))
    transaction.on_commit(lambda: celery_app.send_task(INGEST_TASK, args=[source_id, generation]))


def source_add_file(
    *, workspace: Workspace, added_by: User, name: str, content_type: str, data: bytes
) -> Source:
    """Keep an uploaded file as a source and queue it; refused at once (ValidationError) when
    it is too large, empty or not what its name says."""
    name = (name or "upload").strip()[:300]
    if len(data) > settings.KNOWLEDGE_MAX_BYTES:
        raise ValidationError(_too_large(name, len(data)), code="too_large")
    try:
        kind_detect(data, name=name, content_type=content_type)
    except ParseError as exc:
        raise ValidationError(str(exc), code="unreadable") from exc
    source = Source.objects.create(
        workspace=workspace,
        kind=Source.Kind.FILE,
        title=name,
        file_name=name,
        content_type=content_type[:200],
        data=data,
        size=len(data),
        added_by=added_by,
    )
    _enqueue(source)
    return source


def _too_large(name: str, size: int) -> str:
    limit = settings.KNOWLEDGE_MAX_BYTES / 1024 / 1024
    return f"“{name}” is {size / 1024 / 1024:.1f} MB; the limit is {limit:g} MB."


def _url_valid(url: str) -> str:
    """The address, stripped, or ValidationError saying why it cannot be a source."""
    url = url.strip()
    if len(url) > 2000:
        raise ValidationError("That address is too long.", code="invalid")
    try:
        url_check(url)
    except FetchError as exc:
        raise ValidationError(str(exc), code="invalid") from exc
    return url


def source_add_url(*, workspace: Workspace, added_by: User, url: str) -> Source:
    """Queue a web page (or a PDF or CSV by URL) as a source; the address is checked again,
    resolved and all, each time it is fetched."""
    url = _url_valid(url)
    source = Source.objects.create(
        workspace=workspace, kind=Source.Kind.URL, title=url[:300], url=url, added_by=added_by
    )
    _enqueue(source)
    return source


def source_remove(*, source: Source) -> None:
    """Remove a source and its passages at once; a run reading it stops by itself."""
    if source.kind == Source.Kind.DOCUMENT:
        raise ValidationError(
            "A shared document is a source as long as it exists: delete the document to remove it.",
            code="document",
        )
    _source_delete(source)


def _source_delete(source: Source) -> None:
    workspace_id, source_id = source.workspace_id, source.pk
    with transaction.atomic():
        source.delete()
        passages_changed(workspace_id=workspace_id)
    transaction.on_commit(
        lambda: events.source_removed_publish(workspace_id=workspace_id, source_id=source_id)
    )


def passages_changed(*, workspace_id: int) -> None:
    """Bump the workspace's passages' version, inside the transaction that changes them: the
    change and the new version commit together (a search never sees one without the other).

    The row is made first if missing, then incremented: two first changes at once both count
    (on PostgreSQL the second insert waits for the first, then the update waits its turn).
    """
    PassagesVersion.objects.bulk_create(
        [PassagesVersion(workspace_id=workspace_id)], ignore_conflicts=True
    )
    PassagesVersion.objects.filter(pk=workspace_id).update(version=F("version") + 1)


def chunks_delete(*, chunks: QuerySet[Chunk]) -> int:
    """Delete passages (the admin's way) with their workspaces' versions bumped; how many."""
    with transaction.atomic():
        workspace_ids = set(chunks.values_list("workspace_id", flat=True).distinct())
        deleted, _ = chunks.delete()
        for workspace_id in sorted(workspace_ids):
            passages_changed(workspace_id=workspace_id)
    return deleted


def source_url_change(*, source: Source, url: str) -> None:
    """Give a web-address source another address (checked as when adding one) and queue it.

    For an address that was refused, which fetching again can only refuse again. The passages
    of the old address, if any, go at once: they are not what the source now names.
    """
    if source.kind != Source.Kind.URL:
        raise ValidationError("Only a web address's source has an address.", code="not_url")
    url = _url_valid(url)
    with transaction.atomic():
        Source.objects.filter(pk=source.pk).update(
            generation=F("generation") + 1,
            waiting_for_answers=False,
            url=url,
            title=url[:300],
            status=Source.Status.QUEUED,
            error="",
            refused=False,
            notes="",
            size=0,
            pages=None,
            rows=None,
            chunk_count=0,
            progress_done=0,
            progress_total=0,
            indexed_at=None,
        )
        removed, _ = Chunk.objects.filter(source_id=source.pk).delete()
        if removed:
            passages_changed(workspace_id=source.workspace_id)
        source.refresh_from_db()
        _enqueue(source)


def source_reindex(*, source: Source) -> None:
    """Read and index the source again (a URL is fetched again). Its current passages stay
    searchable until the new ones replace them."""
    with transaction.atomic():
        Source.objects.filter(pk=source.pk).update(
            generation=F("generation") + 1,
            waiting_for_answers=False,
            status=Source.Status.QUEUED,
            error="",
            refused=False,
            progress_done=0,
            progress_total=0,
        )
        source.refresh_from_db()
        _enqueue(source)


def source_cancel(*, source: Source, by: User) -> bool:
    """Stop reading or indexing the source; False if it was not in progress. Passages of an
    earlier index, if any, stay."""
    with transaction.atomic():
        cancelled = Source.objects.filter(pk=source.pk, status__in=Source.ACTIVE_STATUSES).update(
            generation=F("generation") + 1,
            waiting_for_answers=False,
            status=Source.Status.FAILED,
            error=f"Cancelled by {_person(by)}.",
        )
        if cancelled:
            if source.kind == Source.Kind.DOCUMENT:  # not read again until it changes
                Source.objects.filter(pk=source.pk).update(
                    document_text_at=Document.objects.filter(source=source.pk).values("text_at")
                )
            source.refresh_from_db()
            transaction.on_commit(lambda: events.source_publish(source))
    return bool(cancelled)


# --- Ingestion (the ``ingest`` worker) ------------------------------------------------------


class _Run:
    """One ingestion of one generation of a source: progress steps, saved and announced at
    most every PROGRESS_EVERY_S, each also checking that the run is still wanted and within
    its time; and its pauses while the models answer (``answers_first``), shown on its row."""

    def __init__(self, source: Source, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.source = source
        self.generation = source.generation
        self._last = 0.0
        self.answers_first = AnswersFirst(waiting=self.waiting, still_wanted=self.still_wanted)
        self._clock = clock
        self._started = clock()
        self._waited = 0.0  # waiting for answers: not the source's time
        self._waiting_since: float | None = None

    def within_time(self) -> None:
        """Raise TookTooLong once the run has worked on its source (fetch, parse, embedding;
        not its waits for answers) longer than KNOWLEDGE_SOURCE_TIMEOUT_S: checked at every
        step, so a file of many pages or passages is stopped between two of them."""
        limit = settings.KNOWLEDGE_SOURCE_TIMEOUT_S
        if self._clock() - self._started - self._waited > limit:
            advice = " Split it into smaller files." if self.source.kind == Source.Kind.FILE else ""
            raise TookTooLong(
                f"Reading it took longer than {limit:g} s, the limit for one source: stopped."
                + advice
            )

    def _current(self) -> QuerySet[Source]:
        return Source.objects.filter(pk=self.source.pk, generation=self.generation)

    def still_wanted(self) -> None:
        """Raise Cancelled if the source was cancelled, re-indexed or removed."""
        if not self._current().exists():
            raise Cancelled

    def waiting(self, waiting: bool) -> None:
        """The row says whether the run is waiting for answers to finish (a sign of life too:
        a long wait is not a lost task)."""
        now = self._clock()
        if waiting:
            self._waiting_since = now
        elif self._waiting_since is not None:
            self._waited += now - self._waiting_since
            self._waiting_since = None
        if self._current().update(waiting_for_answers=waiting, heartbeat_at=timezone.now()):
            self.source.waiting_for_answers = waiting
            events.source_publish(self.source)

    def step(self, status: str, done: int, of: int, *, force: bool = False) -> None:
        self.within_time()
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_EVERY_S and done < of:
            return
        self._last = now
        updated = self._current().update(
            status=status, progress_done=done, progress_total=of, heartbeat_at=timezone.now()
        )
        if not updated:
            raise Cancelled
        self.source.status, self.source.progress_done, self.source.progress_total = (
            status,
            done,
            of,
        )
        events.source_publish(self.source)


def source_ingest(*, source_id: int, generation: int) -> None:
    """Read, cut, embed and index one generation of a source. Safe to run twice: a run of a
    generation that is no longer current, or of a source that is gone, does nothing."""
    source = (
        Source.objects.select_related("added_by", "document")
        .filter(pk=source_id, generation=generation, status__in=Source.ACTIVE_STATUSES)
        .first()
    )
    if source is None:
        return
    run = _Run(source)
    try:
        run.answers_first.step()  # before anything is read: an answer may be starting
        run.step(Source.Status.READING, 0, 0, force=True)
        parsed = _source_read(source, run)
        pieces = chunks_make(
            parsed.segments,
            size=settings.KNOWLEDGE_CHUNK_CHARACTERS,
            overlap=settings.KNOWLEDGE_CHUNK_OVERLAP,
        )
        chunks = _chunks_embed(source, pieces, run)
        _chunks_replace(source, run, parsed, chunks)
    except Cancelled:
        logger.info("Ingestion of source %s (generation %s) stopped", source_id, generation)
    except FetchRefused as exc:
        _source_fail(source, generation, str(exc), refused=True)
    except (FetchError, ParseError, TookTooLong) as exc:
        _source_fail(source, generation, str(exc))
    except Exception:
        logger.exception("Ingestion of source %s failed", source_id)
        _source_fail(source, generation, FAILED_UNEXPECTEDLY)


def _source_read(source: Source, run: _Run) -> Parsed:
    def progress(done: int, of: int) -> None:
        run.step(Source.Status.READING, done, of)

    if source.kind == Source.Kind.URL:
        fetched = url_fetch(source.url)
        name = fetched.filename or fetched.url
        kind = kind_detect(fetched.body, name=name, content_type=fetched.content_type)
        source.size = len(fetched.body)
        parsed = parse_isolated(
            fetched.body,
            kind=kind,
            name=name,
            charset=fetched.charset,
            progress=progress,
            pause=run.answers_first,
        )
        if parsed.title:
            source.title = parsed.title[:300]
        return parsed
    if source.kind == Source.Kind.DOCUMENT:
        document = source.document
        assert document is not None
        source.title = document.title
        source.document_text_at = document.text_at
        text = document.text.encode()
        source.size = len(text)
        if not document.text.strip():
            return Parsed(kind="markdown", segments=[])
        return parse_isolated(
            text,
            kind="markdown",
            name=document.title,
            progress=progress,
            pause=run.answers_first,
        )
    data = bytes(Source.objects.filter(pk=source.pk).values_list("data", flat=True).get())
    kind = kind_detect(data, name=source.file_name, content_type=source.content_type)
    return parse_isolated(
        data, kind=kind, name=source.file_name, progress=progress, pause=run.answers_first
    )


def _chunks_embed(source: Source, pieces: list[Piece], run: _Run) -> list[Chunk]:
    embedder = embedder_get()
    chunks: list[Chunk] = []
    run.step(Source.Status.INDEXING, 0, len(pieces), force=True)
    for start in range(0, len(pieces), EMBED_BATCH):
        run.answers_first.step()
        batch = pieces[start : start + EMBED_BATCH]
        vectors = embedder.passages([piece.text for piece in batch])
        for offset, (piece, vector) in enumerate(zip(batch, vectors, strict=True)):
            chunks.append(
                Chunk(
                    source_id=source.pk,
                    workspace_id=source.workspace_id,
                    ordinal=start + offset,
                    text=piece.text,
                    locator=piece.locator,
                    embedding=vector_bytes(vector),
                    embedding_model=embedder.name,
                    dimension=embedder.dimension,
                )
            )
        run.step(Source.Status.INDEXING, len(chunks), len(pieces))
    return chunks


def _chunks_replace(source: Source, run: _Run, parsed: Parsed, chunks: list[Chunk]) -> None:
    """Swap the source's passages for the new ones, in one transaction, if still current."""
    with transaction.atomic():
        current = (
            Source.objects.select_for_update()
            .filter(pk=source.pk, generation=run.generation)
            .exists()
        )
        if not current:
            raise Cancelled
        Chunk.objects.filter(source_id=source.pk).delete()
        Chunk.objects.bulk_create(chunks, batch_size=500)
        Source.objects.filter(pk=source.pk).update(
            status=Source.Status.READY,
            error="",
            refused=False,
            notes=" ".join(parsed.notes),
            title=source.title,
            size=source.size,
            pages=parsed.pages,
            rows=parsed.rows,
            chunk_count=len(chunks),
            progress_done=len(chunks),
            progress_total=len(chunks),
            indexed_at=timezone.now(),
            document_text_at=source.document_text_at,
        )
        passages_changed(workspace_id=source.workspace_id)
        source.refresh_from_db()
        transaction.on_commit(lambda: events.source_publish(source))


def _source_fail(source: Source, generation: int, reason: str, *, refused: bool = False) -> None:
    if source.chunk_count:
        reason += " The previous index is still used."
    failed = Source.objects.filter(pk=source.pk, generation=generation).update(
        status=Source.Status.FAILED,
        error=reason,
        refused=refused,
        # A document is not read again until it changes (documents_sources_sync).
        document_text_at=source.document_text_at,
    )
    if failed:
        source.refresh_from_db()
        events.source_publish(source)


# --- Shared documents and model changes (periodic, on the ``ingest`` queue) -----------------


def documents_sources_sync() -> int:
    """Make each live document with text a source, re-index those whose text changed since
    they were indexed, drop the sources of deleted documents. Returns how many were queued."""
    for gone in Source.objects.filter(
        kind=Source.Kind.DOCUMENT, document__deleted_at__isnull=False
    ).defer("data"):
        _document_source_drop(gone)
    _document_titles_follow()
    queued = 0
    # The text read last time, or for a source never read, when it was made: a source that
    # failed or was cancelled is read again only once its document changes again.
    read_as_of = Coalesce(F("source__document_text_at"), F("source__created_at"))
    changed = (
        Document.objects.live()
        .filter(
            (Q(source__isnull=True) & ~Q(text=""))
            | (Q(source__isnull=False) & Q(text_at__gt=read_as_of))
        )
        .exclude(source__status__in=Source.ACTIVE_STATUSES)
        .select_related("source")
    )
    for document in changed:
        source: Source | None = getattr(document, "source", None)
        with transaction.atomic():
            if source is None:
                source = Source.objects.create(
                    workspace_id=document.workspace_id,
                    kind=Source.Kind.DOCUMENT,
                    title=document.title[:300],
                    document=document,
                    added_by=document.created_by,
                )
                _enqueue(source)
            else:
                source_reindex(source=source)
        queued += 1
    return queued


def _document_titles_follow() -> None:
    """A renamed document's source takes its new title (its passages are the same)."""
    renamed = Source.objects.filter(kind=Source.Kind.DOCUMENT).exclude(title=F("document__title"))
    for source in renamed.select_related("document", "added_by").defer("data"):
        assert source.document is not None
        source.title = source.document.title[:300]
        source.save(update_fields=["title"])
        transaction.on_commit(partial(events.source_publish, source))


def _document_source_drop(source: Source) -> None:
    _source_delete(source)


def sources_requeue_stale(*, silent_for: timedelta) -> int:
    """Queue again the ingestion of sources that are queued or in progress but have shown no
    sign of life for ``silent_for`` (their task was lost, or their worker died without it
    being delivered again). Harmless if the task was only late: a second delivery of the same
    generation finds the source no longer waiting, or resumes it."""
    stale = Source.objects.filter(
        status__in=Source.ACTIVE_STATUSES, heartbeat_at__lt=timezone.now() - silent_for
    ).defer("data")
    count = 0
    for source in stale:
        with transaction.atomic():
            _enqueue(source)
        count += 1
    return count


def chunks_reembed(*, budget_s: float = 30.0, now: Callable[[], float] = time.monotonic) -> int:
    """Embed again, with the current model, ready chunks embedded by another model (or by
    none), a batch at a time for at most ``budget_s``. Returns how many were re-embedded."""
    model = embedding_model_name()
    deadline = now() + budget_s
    answers_first = AnswersFirst()
    done = 0
    while now() < deadline:
        answers_first.step()
        batch = list(
            Chunk.objects.filter(source__status=Source.Status.READY)
            .exclude(embedding_model=model)
            .only("id", "text", "workspace_id")[:EMBED_BATCH]
        )
        if not batch:
            break
        embedder = embedder_get()
        vectors = embedder.passages([chunk.text for chunk in batch])
        with transaction.atomic():
            for chunk, vector in zip(batch, vectors, strict=True):
                Chunk.objects.filter(pk=chunk.pk).update(
                    embedding=vector_bytes(vector),
                    embedding_model=embedder.name,
                    dimension=embedder.dimension,
                )
            for workspace_id in sorted({chunk.workspace_id for chunk in batch}):
                passages_changed(workspace_id=workspace_id)
        done += len(batch)
    return done
