"""The workspace API (``/api/``): workspaces, threads, messages, documents.

Endpoints are thin, like the browser's views: they validate (the schemas), authorise
(``access``) and call chat's and documents' services and selectors, which broadcast to the
members watching in the browser exactly as when the change comes from a page.
"""

from typing import Literal

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema, Status
from pydantic import Field

from chat.message_read import MessageData
from chat.models import Message, Thread
from chat.replies import reply_retry, reply_stop
from chat.selectors import message_page, message_read, messages_read, thread_list
from chat.services import message_create, thread_create
from documents.models import Document
from documents.selectors import document_list, document_text_get
from documents.services import document_rewrite
from workspace.models import Membership
from workspace.selectors import ViewersCannot

from .access import document_for, message_for, thread_for, workspace_for
from .auth import token_of, user_of
from .errors import ApiError
from .exports import document_export_file, thread_export_file
from .schemas import (
    DocumentOut,
    DocumentSummaryOut,
    DocumentTextIn,
    MessageIn,
    MessagePageOut,
    PostedOut,
    ThreadIn,
    ThreadOut,
    WorkspaceOut,
)

router = Router()

MAX_PAGE = 100


@router.get("/workspaces", response=list[WorkspaceOut], tags=["workspaces"])
def workspace_list(request: HttpRequest) -> list[dict[str, object]]:
    """The workspaces the token reaches: its person's, or the one it is limited to."""
    memberships = Membership.objects.filter(user=user_of(request)).select_related("workspace")
    limited_to = token_of(request).workspace_id
    if limited_to is not None:
        memberships = memberships.filter(workspace_id=limited_to)
    return [
        {"id": m.workspace_id, "name": m.workspace.name, "role": m.role}
        for m in memberships.order_by("workspace__name", "workspace_id")
    ]


@router.get("/workspaces/{workspace_id}/threads", response=list[ThreadOut], tags=["threads"])
def workspace_thread_list(request: HttpRequest, workspace_id: int) -> list[dict[str, object]]:
    workspace = workspace_for(request, workspace_id)
    return [_thread_out(thread) for thread in thread_list(workspace=workspace)]


@router.post("/workspaces/{workspace_id}/threads", response={201: ThreadOut}, tags=["threads"])
def workspace_thread_create(request: HttpRequest, workspace_id: int, payload: ThreadIn) -> Status:
    workspace = workspace_for(request, workspace_id)
    thread = thread_create(workspace=workspace, title=payload.title, created_by=user_of(request))
    return Status(201, _thread_out(thread))


@router.get("/threads/{thread_id}", response=ThreadOut, tags=["threads"])
def thread_detail(request: HttpRequest, thread_id: int) -> dict[str, object]:
    return _thread_out(thread_for(request, thread_id))


class PageQuery(Schema):
    before: int | None = Field(default=None, description="Messages before this message id.")
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)


@router.get("/threads/{thread_id}/messages", response=MessagePageOut, tags=["messages"])
def thread_message_list(
    request: HttpRequest, thread_id: int, query: Query[PageQuery]
) -> dict[str, object]:
    """The newest messages (before ``before``), oldest first; streaming answers at their
    newest text. Page back with ``?before=`` the response's ``before``."""
    thread = thread_for(request, thread_id)
    page = message_page(thread=thread, before=query.before, size=query.limit)
    return {
        "messages": [message.to_data() for message in page.messages],
        "has_earlier": page.has_earlier,
        "before": page.earliest_id if page.has_earlier else None,
    }


@router.post("/threads/{thread_id}/messages", response={201: PostedOut}, tags=["messages"])
def thread_message_create(request: HttpRequest, thread_id: int, payload: MessageIn) -> Status:
    """Post as the token's person. Mentions work as in the browser: each assistant it
    mentions (or the thread's answerer) gets a queued answer, listed in ``replies``."""
    thread = thread_for(request, thread_id)
    message, replies = message_post(thread=thread, request=request, body=payload.body)
    return Status(201, posted_data(message, replies))


def message_post(
    *, thread: Thread, request: HttpRequest, body: str
) -> tuple[Message, list[Message]]:
    """Post through chat's service (the same checks and broadcasts as the browser); the
    answers it queued, in order."""
    message = message_create(thread=thread, author=user_of(request), body=body)
    replies = list(
        Message.objects.filter(in_reply_to=message, role=Message.Role.ASSISTANT)
        .select_related("assistant")
        .order_by("id")
    )
    return message, replies


def posted_data(message: Message, replies: list[Message]) -> dict[str, object]:
    """A posted message and the answers it queued, as the API gives them."""
    shown = [read.to_data() for read in messages_read([message, *replies])]
    return {"message": shown[0], "replies": shown[1:]}


@router.get("/messages/{message_id}", response=MessageData, tags=["messages"])
def message_status(request: HttpRequest, message_id: int) -> MessageData:
    """A message as it stands now: an answer being written has its text so far."""
    return message_read(message_for(request, message_id)).to_data()


@router.post("/messages/{message_id}/stop", response={202: MessageData}, tags=["messages"])
def message_stop(request: HttpRequest, message_id: int) -> Status:
    """Stop an answer that is queued or being written: a queued one at once, a streaming one
    at its next token (it keeps its text). 409 once it has ended."""
    message = message_for(request, message_id)
    if not message.is_assistant:
        raise ApiError(400, "not_an_answer", "Only the assistants' answers can be stopped.")
    if not reply_stop(reply=message, by=user_of(request)):
        raise ApiError(409, "already_ended", "This answer has already ended.")
    message.refresh_from_db()
    return Status(202, message_read(message).to_data())


@router.post("/messages/{message_id}/retry", response={202: MessageData}, tags=["messages"])
def message_retry(request: HttpRequest, message_id: int) -> Status:
    """Answer an ended answer's question again; the earlier answer stays as it was."""
    message = message_for(request, message_id)
    try:
        again = reply_retry(reply=message, by=user_of(request))
    except ValidationError as exc:
        raise ApiError(409, "cannot_retry", " ".join(exc.messages)) from exc
    return Status(202, message_read(again).to_data())


@router.get(
    "/workspaces/{workspace_id}/documents",
    response=list[DocumentSummaryOut],
    tags=["documents"],
)
def workspace_document_list(request: HttpRequest, workspace_id: int) -> list[object]:
    return list(document_list(workspace=workspace_for(request, workspace_id)))


@router.get("/documents/{document_id}", response=DocumentOut, tags=["documents"])
def document_detail(request: HttpRequest, document_id: int) -> dict[str, object]:
    """The document with its text as of now (every change editors have sent)."""
    access = document_for(request, document_id)
    return _document_out(
        access.document, document_text_get(document_id=document_id), access.can_edit
    )


@router.put("/documents/{document_id}/text", response=DocumentOut, tags=["documents"])
def document_text_replace(
    request: HttpRequest, document_id: int, payload: DocumentTextIn
) -> dict[str, object]:
    """Make the document read ``text``. The change is made as edits on the current state
    (unchanged lines are kept), stored and sent to open editors like a co-author's, so
    people typing meanwhile keep their work and every editor converges
    (``documents.services.document_rewrite``)."""
    access = document_for(request, document_id)
    if not access.can_edit:
        raise ViewersCannot("documents")
    if "\x00" in payload.text:
        raise ApiError(400, "invalid", "The text contains NUL characters.", param="body.text")
    document_rewrite(document_id=document_id, text=payload.text, author=user_of(request))
    return _document_out(access.document, document_text_get(document_id=document_id), True)


def _thread_out(thread: Thread) -> dict[str, object]:
    return {
        "id": thread.pk,
        "workspace_id": thread.workspace_id,
        "title": thread.title,
        "created_by": thread.created_by.get_username() if thread.created_by else None,
        "created_at": thread.created_at,
        "revision": thread.revision,
    }


def _document_out(document: Document, text: str, can_edit: bool) -> dict[str, object]:
    return {
        "id": document.pk,
        "workspace_id": document.workspace_id,
        "title": document.title,
        "updated_at": document.updated_at,
        "text": text,
        "can_edit": can_edit,
    }


@router.get(
    "/threads/{thread_id}/export",
    response={200: None},
    tags=["export"],
    openapi_extra={
        "responses": {
            200: {
                "description": "The thread as a file",
                "content": {"text/markdown": {}, "application/json": {}},
            }
        }
    },
)
def thread_export(
    request: HttpRequest, thread_id: int, format: Literal["markdown", "json"] = "markdown"
) -> HttpResponse:
    """The whole thread to keep: authors, times, each answer's model, statistics, end and
    sources; as Markdown or as JSON (the messages as this API gives them)."""
    return thread_export_file(thread=thread_for(request, thread_id), as_json=format == "json")


@router.get(
    "/documents/{document_id}/export",
    response={200: None},
    tags=["export"],
    openapi_extra={
        "responses": {200: {"description": "Markdown", "content": {"text/markdown": {}}}}
    },
)
def document_export(request: HttpRequest, document_id: int) -> HttpResponse:
    """The document's text as of now, as a Markdown file."""
    return document_export_file(document=document_for(request, document_id).document)
