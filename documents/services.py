"""Writes about documents: each commits, then tells the document's editors (``events``)."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, Max, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from workspace.models import Workspace

from . import events
from .crdt import EMPTY_UPDATE, doc_from, text_of, text_replace_update, update_check
from .models import Document, DocumentUpdate, DocumentVersion, DocumentWrite
from .selectors import document_purge_before, document_state_get
from .update_shape import NotPlainText
from .writes import write_stop

KeptUpdate = tuple[int, bytes, int | None]  # document id, the update, its author's id


def document_create(*, workspace: Workspace, title: str, created_by: User) -> Document:
    return Document.objects.create(workspace=workspace, title=title.strip(), created_by=created_by)


def document_rename(*, document: Document, title: str) -> None:
    document.title = title.strip()
    document.save(update_fields=["title"])
    events.document_publish(document.pk, events.Renamed(title=document.title))


def document_delete(*, document: Document, deleted_by: User) -> None:
    """Delete for now: restorable for DOCUMENT_RESTORE_DAYS; open editors are told and closed,
    and the assistant stops writing into it."""
    document.deleted_at = timezone.now()
    document.deleted_by = deleted_by
    document.save(update_fields=["deleted_at", "deleted_by"])
    for write in document.writes.filter(status__in=DocumentWrite.ACTIVE_STATUSES):
        write_stop(write=write, by=deleted_by)
    by = deleted_by.get_full_name() or deleted_by.get_username()
    events.document_publish(document.pk, events.Deleted(by=by))


def document_restore(*, document: Document) -> None:
    document.deleted_at = None
    document.deleted_by = None
    document.save(update_fields=["deleted_at", "deleted_by"])


def document_update_append(
    *, document_id: int, update: bytes, author: User | None, sender: str
) -> None:
    """Keep a change the server makes (restoring a version, the assistant's writing) in the
    log, then pass it to the document's editors. Raises ValidationError like
    ``document_update_check``."""
    if update == EMPTY_UPDATE:
        return
    with transaction.atomic():
        document_update_check(document_id=document_id, update=update)
        document_updates_keep([(document_id, update, author.pk if author else None)])
        events.document_publish(document_id, events.Updated(update=update, sender=sender))


def document_rewrite(*, document_id: int, text: str, author: User | None) -> None:
    """Make the document read ``text``: as edits on its current state (unchanged lines kept,
    never a state rebuilt from the text), kept and passed to open editors like a co-author's
    change, so people typing meanwhile keep their work and every editor converges. Raises
    ValidationError like ``document_update_check``."""
    update = text_replace_update(document_state_get(document_id=document_id), text)
    document_update_append(
        document_id=document_id, update=update, author=author, sender=events.SERVER
    )


def document_update_check(*, document_id: int, update: bytes, pending_bytes: int = 0) -> None:
    """Raise ValidationError, worded for the editor, unless ``update`` may be kept: it is a
    Yjs update (else MalformedUpdate) that adds only text to the document's text, not over
    DOCUMENT_UPDATE_MAX_BYTES, and the document (with ``pending_bytes`` of changes not yet in
    its log) stays within DOCUMENT_MAX_BYTES."""
    if len(update) > settings.DOCUMENT_UPDATE_MAX_BYTES:
        raise ValidationError(update_too_large_message(len(update)), code="too_large")
    try:
        update_check(update)
    except NotPlainText as exc:
        raise ValidationError(
            f"That change was not saved: a document holds plain text only, and {exc}. "
            f"{REFUSED_CHANGE_ADVICE}",
            code="not_text",
        ) from exc
    stored = _document_stored_bytes(document_id) + pending_bytes
    if stored + len(update) > settings.DOCUMENT_MAX_BYTES:
        raise ValidationError(
            f"The document has reached its size limit ({settings.DOCUMENT_MAX_BYTES:,} bytes): "
            f"your change was not saved. {REFUSED_CHANGE_ADVICE}",
            code="document_full",
        )


def document_updates_keep(updates: list[KeptUpdate]) -> None:
    """Append changes to their documents' logs in one statement: the one write of the log,
    for the server's changes (``document_update_append``) and editors' alike.

    Editors' sockets published theirs already (``documents.update_log``): a change the log misses
    (the database was unavailable, the process died) is still held by the editors, who send it
    again when the server's state vector shows it lacks it, at their next resync.
    """
    DocumentUpdate.objects.bulk_create(
        DocumentUpdate(document_id=document_id, data=data, size=len(data), author_id=author_id)
        for document_id, data, author_id in updates
    )


# Later changes of an editor build on the refused one, so the server cannot keep them either.
REFUSED_CHANGE_ADVICE = (
    "Copy what you wrote since your last saved change, then reload the page to go on."
)


def update_too_large_message(size: int) -> str:
    limit = settings.DOCUMENT_UPDATE_MAX_BYTES
    return (
        f"That change is too large to save ({size:,} bytes; the limit is {limit:,}). "
        f"It was not saved. {REFUSED_CHANGE_ADVICE}"
    )


def _document_stored_bytes(document_id: int) -> int:
    snapshot = Document.objects.filter(pk=document_id).values_list("snapshot_size", flat=True)
    logged = DocumentUpdate.objects.filter(document_id=document_id).aggregate(total=Sum("size"))
    return snapshot.get() + (logged["total"] or 0)


def document_compact(*, document_id: int) -> None:
    """Merge the log into the snapshot, derive the text, keep an automatic version if due.

    The document's row is locked so two compactions never interleave; editors' appends only
    insert into the log and are never held up. Exactly the merged updates leave the log.
    """
    with transaction.atomic():
        document = Document.objects.select_for_update().get(pk=document_id)
        log = list(
            DocumentUpdate.objects.filter(document_id=document_id)
            .order_by("id")
            .values_list("id", "data", "created_at")
        )
        doc = doc_from(bytes(document.snapshot), *(bytes(data) for _, data, _ in log))
        document.snapshot = doc.get_update()
        document.snapshot_size = len(document.snapshot)
        document.text = text_of(doc)
        document.text_at = timezone.now()
        if log:
            document.updated_at = log[-1][2]
        document.save(update_fields=["snapshot", "snapshot_size", "text", "text_at", "updated_at"])
        DocumentUpdate.objects.filter(id__in=[id_ for id_, _, _ in log]).delete()
        _version_keep_automatic(document)


def _version_keep_automatic(document: Document) -> None:
    """Keep the compacted document as an automatic version when it changed and a long
    editing session has gone on for ``DOCUMENT_AUTO_VERSION_EVERY_S`` since the last one."""
    latest = document.versions.order_by("-created_at").only("text", "created_at").first()
    if latest is not None and latest.text == document.text:
        return
    if latest is None and not document.text:
        return
    due = timezone.now() - timedelta(seconds=settings.DOCUMENT_AUTO_VERSION_EVERY_S)
    if latest is None or latest.created_at <= due:
        DocumentVersion.objects.create(
            document=document, state=document.snapshot, text=document.text
        )


def documents_sessions_end() -> None:
    """An editing session ends when a document has been quiet for ``DOCUMENT_SESSION_QUIET_S``:
    each document changed since its last version keeps an automatic one of how the session
    left it (its log is compacted by then: it compacts after seconds of quiet)."""
    quiet_since = timezone.now() - timedelta(seconds=settings.DOCUMENT_SESSION_QUIET_S)
    latest = DocumentVersion.objects.filter(document=OuterRef("pk")).order_by("-created_at")
    ended = (
        Document.objects.live()
        # A day back at most: a session undone to its last version is looked at for a day.
        .filter(updated_at__lte=quiet_since, updated_at__gt=quiet_since - timedelta(days=1))
        .filter(updates__isnull=True)
        .annotate(
            versioned_at=Subquery(latest.values("created_at")[:1]),
            versioned_text=Subquery(latest.values("text")[:1]),
        )
        .filter(Q(versioned_at__isnull=True) | Q(versioned_at__lt=F("updated_at")))
    )
    for document in ended:
        if document.text != (document.versioned_text or ""):
            DocumentVersion.objects.create(
                document=document, state=document.snapshot, text=document.text
            )


def documents_tidy() -> None:
    """The housekeeping pass: compact logs that are long or quiet, version the documents whose
    editing session ended, purge old deleted documents."""
    quiet_since = timezone.now() - timedelta(seconds=settings.DOCUMENT_COMPACT_QUIET_S)
    pending = DocumentUpdate.objects.values("document_id").annotate(
        newest=Max("created_at"), count=Count("id")
    )
    for row in pending:
        if row["newest"] <= quiet_since or row["count"] >= settings.DOCUMENT_COMPACT_AFTER_UPDATES:
            document_compact(document_id=row["document_id"])
    documents_sessions_end()
    Document.objects.deleted().filter(deleted_at__lt=document_purge_before()).delete()


def version_create(*, document: Document, name: str, created_by: User) -> DocumentVersion:
    """Name the document as it is now (the current state, not the last compacted one)."""
    state = document_state_get(document_id=document.pk)
    return DocumentVersion.objects.create(
        document=document,
        name=name.strip(),
        state=state,
        text=text_of(doc_from(state)),
        created_by=created_by,
    )


def version_restore(*, version: DocumentVersion, restored_by: User) -> None:
    """Make the document read as ``version`` again (``document_rewrite``), keeping the
    version before the restore."""
    document = version.document
    state = document_state_get(document_id=document.pk)
    DocumentVersion.objects.create(
        document=document,
        name=f"Before restoring “{version}”",
        state=state,
        text=text_of(doc_from(state)),
        created_by=restored_by,
    )
    document_rewrite(document_id=document.pk, text=version.text, author=restored_by)
