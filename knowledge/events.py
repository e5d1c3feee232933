"""The sources topic's events: every member with the sources page open sees them live.

=================  ===============================================================
event type         meaning and payload
=================  ===============================================================
knowledge.source   a source was added or changed (status, progress, counts):
                   ``source``, the whole row as ``source_data`` gives it
knowledge.removed  a source was removed: ``id``
=================  ===============================================================

Published with ``realtime.publish`` to ``realtime.topics.sources_topic``; the payload carries
everything the row shows, so no event reads the database on its way to the sockets.
"""

from typing import TYPE_CHECKING, TypedDict

from realtime.contract import EventModel
from realtime.publish import publish
from realtime.topics import sources_topic

if TYPE_CHECKING:
    from .models import Source


class SourceData(TypedDict):
    id: int
    workspace_id: int
    kind: str
    kind_label: str
    title: str
    url: str
    status: str
    status_label: str
    active: bool
    error: str
    refused: bool
    notes: str
    size: int
    pages: int | None
    rows: int | None
    chunks: int
    done: int
    of: int
    unit: str  # what ``done`` and ``of`` count: passages, pages or rows
    waiting: bool  # paused while the models answer (``answers_first``)
    added_by: str
    created_at: str  # ISO 8601, or "" before it is saved


class SourceChanged(EventModel):
    type = "knowledge.source"
    source: SourceData


class SourceRemoved(EventModel):
    type = "knowledge.removed"
    id: int


def source_data(source: "Source") -> SourceData:
    """A source as its row shows it (also what the page renders over HTTP)."""
    person = source.added_by
    return {
        "id": source.pk,
        "workspace_id": source.workspace_id,
        "kind": str(source.kind),
        "kind_label": source.get_kind_display(),
        "title": source.title,
        "url": source.url,
        "status": str(source.status),
        "status_label": source.get_status_display(),
        "active": source.is_active,
        "error": source.error,
        "refused": source.refused,
        "notes": source.notes,
        "size": source.size,
        "pages": source.pages,
        "rows": source.rows,
        "chunks": source.chunk_count,
        "done": source.progress_done,
        "of": source.progress_total,
        "unit": _progress_unit(source),
        "waiting": source.is_active and source.waiting_for_answers,
        "added_by": (person.get_full_name() or person.get_username()) if person else "",
        "created_at": source.created_at.isoformat() if source.created_at else "",
    }


def _progress_unit(source: "Source") -> str:
    """What the progress counts: passages while indexing; while reading, what the parser
    reports, which is rows for a CSV and pages for a PDF (the only kinds that report)."""
    if source.status != "reading":
        return "passages"
    name = (source.file_name or source.url).lower().split("?", 1)[0]
    is_csv = name.endswith((".csv", ".tsv")) or "csv" in source.content_type
    return "rows" if is_csv else "pages"


def source_publish(source: "Source") -> None:
    publish(sources_topic(source.workspace_id), SourceChanged(source=source_data(source)))


def source_removed_publish(*, workspace_id: int, source_id: int) -> None:
    publish(sources_topic(workspace_id), SourceRemoved(id=source_id))
