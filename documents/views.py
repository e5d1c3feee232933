"""Document pages. The content is edited over the document socket; these views do the rest."""

import json

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from chat.markdown import markdown_to_html
from chat.selectors import thread_get_for_member
from workspace.http import AuthenticatedHttpRequest, editors_only_of
from workspace.selectors import ViewersCannot, membership_editor_check, workspace_get_for_member

from .forms import DocumentTitleForm, VersionForm
from .presence import person_colour
from .selectors import (
    DocumentAccess,
    document_access_get,
    version_get,
    version_list,
    write_get,
)
from .services import (
    document_create,
    document_delete,
    document_rename,
    document_restore,
    version_create,
    version_restore,
)
from .writes import write_request, write_stop

WHAT = "documents"  # what viewers are told they cannot change
DRAFT_INSTRUCTION = (
    "Draft a document from the conversation: a title line, then the decisions made, the open "
    "questions, and the next steps with who does them."
)
editors_only = editors_only_of(document_access_get, id_kwarg="document_id", what=WHAT)


@login_required
@require_POST
def document_create_view(request: AuthenticatedHttpRequest, workspace_id: int) -> HttpResponse:
    workspace = workspace_get_for_member(user=request.user, workspace_id=workspace_id)
    membership_editor_check(user=request.user, workspace_id=workspace.pk, what=WHAT)
    form = DocumentTitleForm(request.POST)
    if not form.is_valid():
        return HttpResponse("A document needs a title of at most 200 characters.", status=400)
    document = document_create(
        workspace=workspace, title=form.cleaned_data["title"], created_by=request.user
    )
    return redirect("document-detail", document_id=document.pk)


@login_required
@require_GET
def document_detail_view(request: AuthenticatedHttpRequest, document_id: int) -> HttpResponse:
    access = document_access_get(user=request.user, document_id=document_id)
    return render(request, "documents/document.html", _page_context(request, access))


def _page_context(request: AuthenticatedHttpRequest, access: DocumentAccess) -> dict[str, object]:
    document = access.document
    return {
        "document": document,
        "workspace": document.workspace,
        "can_edit": access.can_edit,
        "versions": version_list(document=document)[:50],
        "person_name": request.user.get_full_name() or request.user.get_username(),
        "person_colour": person_colour(request.user.pk),
        "update_limit": settings.DOCUMENT_UPDATE_MAX_BYTES,
    }


@login_required
@require_POST
@editors_only
def document_rename_view(request: AuthenticatedHttpRequest, access: DocumentAccess) -> HttpResponse:
    form = DocumentTitleForm(request.POST)
    if not form.is_valid():
        return HttpResponse("A title needs 1 to 200 characters.", status=400)
    document_rename(document=access.document, title=form.cleaned_data["title"])
    return redirect("document-detail", document_id=access.document.pk)


@login_required
@require_POST
@editors_only
def document_delete_view(request: AuthenticatedHttpRequest, access: DocumentAccess) -> HttpResponse:
    document_delete(document=access.document, deleted_by=request.user)
    return redirect("workspace-detail", workspace_id=access.document.workspace_id)


@login_required
@require_POST
def document_restore_view(request: AuthenticatedHttpRequest, document_id: int) -> HttpResponse:
    access = document_access_get(user=request.user, document_id=document_id, deleted=True)
    if not access.can_edit:
        raise ViewersCannot(WHAT)
    document_restore(document=access.document)
    return redirect("document-detail", document_id=document_id)


@login_required
@require_POST
def document_preview_view(request: AuthenticatedHttpRequest, document_id: int) -> HttpResponse:
    """The editor's text as sanitized HTML, by the same renderer as messages."""
    document_access_get(user=request.user, document_id=document_id)
    text = request.POST.get("text", "")
    if len(text) > settings.DOCUMENT_MAX_BYTES:
        return HttpResponse("Too long to preview.", status=413)
    return HttpResponse(markdown_to_html(text))


@login_required
@require_POST
@editors_only
def write_request_view(request: AuthenticatedHttpRequest, access: DocumentAccess) -> JsonResponse:
    """Ask the assistant to write at the cursor (``anchor``) or rewrite the selection
    (``anchor`` to ``head``): Yjs relative positions, as JSON in form fields."""
    try:
        anchor, head = (_json_field(request, name) for name in ("anchor", "head"))
        write = write_request(
            document=access.document,
            by=request.user,
            instruction=request.POST.get("instruction", ""),
            anchor=anchor,
            head=head,
        )
    except ValidationError as exc:
        return JsonResponse({"error": " ".join(exc.messages)}, status=400)
    return JsonResponse({"id": write.pk, "status": write.status}, status=202)


def _json_field(request: AuthenticatedHttpRequest, name: str) -> object:
    raw = request.POST.get(name, "")
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ValidationError(f"The {name} position could not be read.") from exc


@login_required
@require_POST
@editors_only
def write_stop_view(
    request: AuthenticatedHttpRequest, access: DocumentAccess, write_id: int
) -> JsonResponse:
    write = write_get(document=access.document, write_id=write_id)
    if not write_stop(write=write, by=request.user):
        return JsonResponse({"error": "This write has already ended."}, status=409)
    return JsonResponse({"id": write.pk}, status=202)


@login_required
@require_POST
def thread_draft_view(request: AuthenticatedHttpRequest, thread_id: int) -> HttpResponse:
    """A new document, drafted by the assistant from the thread's conversation."""
    thread = thread_get_for_member(user=request.user, thread_id=thread_id)
    membership_editor_check(user=request.user, workspace_id=thread.workspace_id, what=WHAT)
    document = document_create(
        workspace=thread.workspace, title=f"Draft: {thread.title}"[:200], created_by=request.user
    )
    write_request(
        document=document, by=request.user, instruction=DRAFT_INSTRUCTION, source_thread=thread
    )
    return redirect("document-detail", document_id=document.pk)


@login_required
@require_POST
@editors_only
def version_create_view(request: AuthenticatedHttpRequest, access: DocumentAccess) -> HttpResponse:
    form = VersionForm(request.POST)
    if not form.is_valid():
        return HttpResponse("A version needs a name of 1 to 200 characters.", status=400)
    version_create(
        document=access.document, name=form.cleaned_data["name"], created_by=request.user
    )
    return redirect("document-detail", document_id=access.document.pk)


@login_required
@require_GET
def version_detail_view(
    request: AuthenticatedHttpRequest, document_id: int, version_id: int
) -> HttpResponse:
    """An old version, read-only: its text rendered, with a way to restore it."""
    access = document_access_get(user=request.user, document_id=document_id)
    version = version_get(document=access.document, version_id=version_id)
    context = {
        **_page_context(request, access),
        "version": version,
        "html": markdown_to_html(version.text),
    }
    return render(request, "documents/version.html", context)


@login_required
@require_POST
@editors_only
def version_restore_view(
    request: AuthenticatedHttpRequest, access: DocumentAccess, version_id: int
) -> HttpResponse:
    version = version_get(document=access.document, version_id=version_id)
    version_restore(version=version, restored_by=request.user)
    return redirect("document-detail", document_id=access.document.pk)
