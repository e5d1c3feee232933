"""Reads about documents, always on behalf of a member (except the state, read by id)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from jobs.selectors import job_places
from workspace.models import Workspace
from workspace.selectors import membership_get

from . import events
from .crdt import doc_from, state_merge, text_of
from .models import Document, DocumentUpdate, DocumentVersion, DocumentWrite


def document_list(*, workspace: Workspace) -> QuerySet[Document]:
    return workspace.documents.live().select_related("created_by")


def document_list_restorable(*, workspace: Workspace) -> QuerySet[Document]:
    return workspace.documents.deleted().select_related("deleted_by").order_by("-deleted_at")


def document_purge_before() -> datetime:
    """Deleted before this, a document can no longer be restored: it is purged."""
    return timezone.now() - timedelta(days=settings.DOCUMENT_RESTORE_DAYS)


@dataclass(frozen=True)
class DocumentAccess:
    document: Document
    can_edit: bool


def document_access_get(
    *, user: User | AnonymousUser, document_id: int, deleted: bool = False
) -> DocumentAccess:
    """The document and what ``user`` may do with it; 404 alike for unknown ids, non-members
    and (unless ``deleted``) deleted documents."""
    if user.is_authenticated:
        documents = Document.objects.deleted() if deleted else Document.objects.live()
        document = documents.select_related("workspace").filter(pk=document_id).first()
        if document is not None:
            membership = membership_get(user=user, workspace_id=document.workspace_id)
            if membership is not None:
                return DocumentAccess(document, can_edit=membership.can_edit)
    raise Http404("No such document.")


def document_deleted_by(document_id: int) -> str | None:
    """Who deleted the document, if it is deleted ("someone" if their account is gone)."""
    document = (
        Document.objects.deleted().select_related("deleted_by").filter(pk=document_id).first()
    )
    if document is None:
        return None
    person = document.deleted_by
    return (person.get_full_name() or person.get_username()) if person else "someone"


def document_state_get(*, document_id: int) -> bytes:
    """The document's whole Yjs state: its snapshot merged with the updates still in the log.

    The log is read before the snapshot: a compaction committing in between has merged into
    the newer snapshot whatever it removed from the log, so nothing can fall between the two
    reads, and what is read twice merges once.
    """
    log = list(
        DocumentUpdate.objects.filter(document_id=document_id)
        .order_by("id")
        .values_list("data", flat=True)
    )
    snapshot = Document.objects.filter(pk=document_id).values_list("snapshot", flat=True).get()
    return state_merge(bytes(snapshot), *(bytes(update) for update in log))


def document_text_get(*, document_id: int) -> str:
    """The document's text as of now (``Document.text`` lags behind by a compaction)."""
    return text_of(doc_from(document_state_get(document_id=document_id)))


def version_list(*, document: Document) -> QuerySet[DocumentVersion]:
    return document.versions.select_related("created_by").defer("state")


def version_get(*, document: Document, version_id: int) -> DocumentVersion:
    try:
        return document.versions.select_related("created_by").get(pk=version_id)
    except DocumentVersion.DoesNotExist as exc:
        raise Http404("No such version.") from exc


def write_list_active(*, document_id: int) -> list[events.WriteData]:
    """The assistant's writes into the document that are queued or being written."""
    writes = DocumentWrite.objects.filter(
        document_id=document_id, status__in=DocumentWrite.ACTIVE_STATUSES
    ).select_related("requested_by", "job")
    return [
        events.write_data(write, ahead=write_queue_ahead(write))
        for write in writes.order_by("created_at")
    ]


def write_queue_ahead(write: DocumentWrite) -> int | None:
    """While ``write`` is queued, how many of its workspace's jobs for the default model
    (writes and answers of the default assistant, which share its queue) are ahead of it
    (``jobs.selectors.job_places``)."""
    if write.status != DocumentWrite.Status.QUEUED or write.job is None:
        return None
    return job_places([write.job]).get(write.job.pk)


def write_get(*, document: Document, write_id: int) -> DocumentWrite:
    try:
        return document.writes.get(pk=write_id)
    except DocumentWrite.DoesNotExist as exc:
        raise Http404("No such write.") from exc
