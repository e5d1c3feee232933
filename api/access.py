"""What a token may reach: the browser's selectors (as its person), then the token's limits.

Each returns the object or raises 404 alike for unknown ids, workspaces the person is not a
member of, and workspaces outside the token's limit.
"""

from django.http import HttpRequest

from chat.models import Message, Thread
from chat.selectors import message_get_for_member, thread_get_for_member
from documents.selectors import DocumentAccess, document_access_get
from workspace.models import Membership, Workspace
from workspace.selectors import membership_get, workspace_get_for_member

from .auth import user_of, workspace_scope_check
from .errors import ApiError


def workspace_for(request: HttpRequest, workspace_id: int) -> Workspace:
    workspace_scope_check(request, workspace_id, what="workspace")
    return workspace_get_for_member(user=user_of(request), workspace_id=workspace_id)


def thread_for(request: HttpRequest, thread_id: int) -> Thread:
    thread = thread_get_for_member(user=user_of(request), thread_id=thread_id)
    workspace_scope_check(request, thread.workspace_id, what="thread")
    return thread


def message_for(request: HttpRequest, message_id: int) -> Message:
    message = message_get_for_member(user=user_of(request), message_id=message_id)
    workspace_scope_check(request, message.thread.workspace_id, what="message")
    return message


def document_for(request: HttpRequest, document_id: int) -> DocumentAccess:
    access = document_access_get(user=user_of(request), document_id=document_id)
    workspace_scope_check(request, access.document.workspace_id, what="document")
    return access


def editor_check(request: HttpRequest, workspace_id: int, *, what: str = "documents") -> Membership:
    """403 saying why for a viewer of the workspace (membership was checked already)."""
    membership = membership_get(user=user_of(request), workspace_id=workspace_id)
    if membership is None or not membership.can_edit:
        raise ApiError(403, "viewer", f"Viewers can read {what} but not change them.")
    return membership
