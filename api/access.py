"""What a token may reach: the browser's selectors (as its person), then the token's limits.

Each returns the object or raises 404 alike for unknown ids, workspaces the person is not a
member of, and workspaces outside the token's limit.
"""

from django.http import HttpRequest

from chat.models import Message, Thread
from chat.selectors import message_get_for_member, thread_get_for_member
from documents.selectors import DocumentAccess, document_access_get
from workspace.models import Workspace
from workspace.selectors import workspace_get_for_member

from .auth import user_of, workspace_scope_check


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
