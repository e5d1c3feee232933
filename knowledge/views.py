"""The sources page: list, upload a file, add a URL, change a refused URL, remove, re-index,
cancel.

Rows change live over the sources socket (``knowledge.consumers``); these views only change
things and redirect back (or answer 204 to htmx, whose page the event updates).
"""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_POST

from workspace.http import AuthenticatedHttpRequest, editors_only_of
from workspace.models import Workspace
from workspace.selectors import (
    membership_can_edit,
    membership_editor_check,
    workspace_get_for_member,
)

from .events import source_data
from .selectors import SourceAccess, source_access_get, source_list
from .services import (
    source_add_file,
    source_add_url,
    source_cancel,
    source_reindex,
    source_remove,
    source_url_change,
)

MULTIPART_OVERHEAD = 64 * 1024  # the form's other fields and boundaries, generously
WHAT = "the sources"  # what viewers are told they cannot change


def _page(
    request: AuthenticatedHttpRequest, workspace: Workspace, *, error: str = "", status: int = 200
) -> HttpResponse:
    context = {
        "workspace": workspace,
        "sources": [source_data(source) for source in source_list(workspace=workspace)],
        "can_edit": membership_can_edit(user=request.user, workspace_id=workspace.pk),
        "error": error,
        "max_mb": settings.KNOWLEDGE_MAX_BYTES // (1024 * 1024),
    }
    return render(request, "knowledge/sources.html", context, status=status)


def _done(request: AuthenticatedHttpRequest, workspace_id: int) -> HttpResponse:
    if request.htmx:
        return HttpResponse(status=204)
    return redirect("sources", workspace_id=workspace_id)


def _editable_workspace(request: AuthenticatedHttpRequest, workspace_id: int) -> Workspace:
    workspace = workspace_get_for_member(user=request.user, workspace_id=workspace_id)
    membership_editor_check(user=request.user, workspace_id=workspace.pk, what=WHAT)
    return workspace


editors_only = editors_only_of(source_access_get, id_kwarg="source_id", what=WHAT)


@login_required
@require_GET
def sources_view(request: AuthenticatedHttpRequest, workspace_id: int) -> HttpResponse:
    workspace = workspace_get_for_member(user=request.user, workspace_id=workspace_id)
    return _page(request, workspace)


@login_required
@require_POST
def source_upload_view(request: AuthenticatedHttpRequest, workspace_id: int) -> HttpResponse:
    workspace = _editable_workspace(request, workspace_id)
    limit = settings.KNOWLEDGE_MAX_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        # Refused before the body is read: Django would spool it all to a temporary file.
        message = f"That file is larger than the limit of {limit / 1024 / 1024:g} MB."
        return _page(request, workspace, error=message, status=413)
    upload = request.FILES.get("file")
    if upload is None:
        return _page(request, workspace, error="Choose a file to upload.", status=400)
    if upload.size is not None and upload.size > limit:
        message = f"“{upload.name}” is larger than the limit of {limit / 1024 / 1024:g} MB."
        return _page(request, workspace, error=message, status=413)
    try:
        source_add_file(
            workspace=workspace,
            added_by=request.user,
            name=upload.name or "upload",
            content_type=upload.content_type or "",
            data=upload.read(),
        )
    except ValidationError as exc:
        return _page(request, workspace, error=" ".join(exc.messages), status=400)
    return redirect("sources", workspace_id=workspace.pk)


@login_required
@require_POST
def source_url_view(request: AuthenticatedHttpRequest, workspace_id: int) -> HttpResponse:
    workspace = _editable_workspace(request, workspace_id)
    try:
        source_add_url(workspace=workspace, added_by=request.user, url=request.POST.get("url", ""))
    except ValidationError as exc:
        return _page(request, workspace, error=" ".join(exc.messages), status=400)
    return redirect("sources", workspace_id=workspace.pk)


@login_required
@require_POST
@editors_only
def source_remove_view(request: AuthenticatedHttpRequest, access: SourceAccess) -> HttpResponse:
    try:
        source_remove(source=access.source)
    except ValidationError as exc:
        return HttpResponse(" ".join(exc.messages), status=400)
    return _done(request, access.source.workspace_id)


@login_required
@require_POST
@editors_only
def source_reindex_view(request: AuthenticatedHttpRequest, access: SourceAccess) -> HttpResponse:
    source_reindex(source=access.source)
    return _done(request, access.source.workspace_id)


@login_required
@require_POST
@editors_only
def source_cancel_view(request: AuthenticatedHttpRequest, access: SourceAccess) -> HttpResponse:
    source_cancel(source=access.source, by=request.user)
    return _done(request, access.source.workspace_id)


@login_required
@require_POST
@editors_only
def source_url_change_view(request: AuthenticatedHttpRequest, access: SourceAccess) -> HttpResponse:
    """A refused address edited in its row: fetched anew, or the reason it is refused too (the
    row's form shows it; sources.js lets htmx swap that 400 in)."""
    try:
        source_url_change(source=access.source, url=request.POST.get("url", ""))
    except ValidationError as exc:
        reason = " ".join(exc.messages)
        if request.htmx:
            return HttpResponse(format_html("{}", reason), status=400)
        workspace = access.source.workspace
        return _page(request, workspace, error=reason, status=400)
    return _done(request, access.source.workspace_id)
