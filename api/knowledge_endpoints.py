"""Sources and search over the API (``/api/``): the sources page's reads and writes, and the
workspace's search box, through knowledge's and search's own services and selectors."""

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import File, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import Field

from knowledge.events import SourceData, source_data
from knowledge.selectors import source_access_get, source_list
from knowledge.services import source_add_file, source_add_url
from search.selectors import Hit, workspace_search
from workspace.selectors import membership_editor_check

from .access import workspace_for
from .auth import user_of, workspace_scope_check
from .errors import ApiError
from .schemas import Input

router = Router()


class SourceUrlIn(Input):
    url: str = Field(min_length=1, max_length=2000, description="A web page, or a PDF or CSV")


class SearchHitOut(Schema):
    kind: str
    title: str
    where: str
    snippet: str = Field(description="Escaped HTML: only <mark> around the words found.")
    url: str
    at: str | None


class SearchOut(Schema):
    query: str
    words: list[str]
    messages: list[SearchHitOut]
    documents: list[SearchHitOut]
    passages: list[SearchHitOut]


@router.get("/workspaces/{workspace_id}/sources", response=list[dict[str, Any]], tags=["sources"])
def workspace_source_list(request: HttpRequest, workspace_id: int) -> list[SourceData]:
    """The workspace's sources with their status (queued, reading, ready, failed…)."""
    workspace = workspace_for(request, workspace_id)
    return [source_data(source) for source in source_list(workspace=workspace)]


@router.get("/sources/{source_id}", response=dict[str, Any], tags=["sources"])
def source_status(request: HttpRequest, source_id: int) -> SourceData:
    """A source as it stands: its status, progress and, if it failed, why."""
    access = source_access_get(user=user_of(request), source_id=source_id)
    workspace_scope_check(request, access.source.workspace_id, what="source")
    return source_data(access.source)


@router.post(
    "/workspaces/{workspace_id}/sources",
    response={201: dict[str, Any]},
    tags=["sources"],
)
def workspace_source_add_url(
    request: HttpRequest, workspace_id: int, payload: SourceUrlIn
) -> Status:
    """Add a web address as a source; it is fetched and indexed on the ingest queue (poll
    ``GET /api/sources/<id>``)."""
    workspace = workspace_for(request, workspace_id)
    membership_editor_check(user=user_of(request), workspace_id=workspace.pk, what="sources")
    try:
        source = source_add_url(workspace=workspace, added_by=user_of(request), url=payload.url)
    except ValidationError as exc:
        raise ApiError(400, "invalid_url", " ".join(exc.messages), param="body.url") from exc
    return Status(201, source_data(source))


@router.post(
    "/workspaces/{workspace_id}/sources/file",
    response={201: dict[str, Any]},
    tags=["sources"],
)
def workspace_source_add_file(
    request: HttpRequest, workspace_id: int, file: File[UploadedFile]
) -> Status:
    """Upload a file (multipart form, field ``file``: PDF, text, Markdown, CSV…) as a source."""
    workspace = workspace_for(request, workspace_id)
    membership_editor_check(user=user_of(request), workspace_id=workspace.pk, what="sources")
    if file.size is not None and file.size > settings.KNOWLEDGE_MAX_BYTES:
        limit = settings.KNOWLEDGE_MAX_BYTES
        raise ApiError(413, "file_too_large", f"The file is over the limit of {limit:,} bytes.")
    try:
        source = source_add_file(
            workspace=workspace,
            added_by=user_of(request),
            name=file.name or "upload",
            content_type=file.content_type or "",
            data=file.read(),
        )
    except ValidationError as exc:
        raise ApiError(400, "invalid_file", " ".join(exc.messages), param="file") from exc
    return Status(201, source_data(source))


@router.get("/workspaces/{workspace_id}/search", response=SearchOut, tags=["search"])
def workspace_search_view(
    request: HttpRequest, workspace_id: int, q: str = "", limit: int = 10
) -> dict[str, Any]:
    """The workspace's messages, documents and source passages holding every word of ``q``,
    best first (as the search box)."""
    workspace = workspace_for(request, workspace_id)
    if not 1 <= limit <= 50:
        raise ApiError(400, "invalid", "limit is between 1 and 50.", param="limit")
    if len(q) > 500:
        raise ApiError(400, "invalid", "The query is at most 500 characters.", param="q")
    results = workspace_search(workspace=workspace, query=q, limit=limit)
    return {
        "query": results.query,
        "words": results.words,
        "messages": [_hit(hit) for hit in results.messages],
        "documents": [_hit(hit) for hit in results.documents],
        "passages": [_hit(hit) for hit in results.passages],
    }


def _hit(hit: Hit) -> dict[str, Any]:
    return {
        "kind": hit.kind,
        "title": hit.title,
        "where": hit.where,
        "snippet": str(hit.snippet),
        "url": hit.url,
        "at": hit.at.isoformat() if hit.at else None,
    }
