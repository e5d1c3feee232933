"""The search page of a workspace, and a found message shown among its neighbours."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from chat.models import Message
from chat.selectors import messages_read
from workspace.http import AuthenticatedHttpRequest
from workspace.selectors import membership_get, workspace_get_for_member

from .selectors import workspace_search

MAX_QUERY_LENGTH = 200
MESSAGES_AROUND = 5


@login_required
@require_GET
def workspace_search_view(request: AuthenticatedHttpRequest, workspace_id: int) -> HttpResponse:
    workspace = workspace_get_for_member(user=request.user, workspace_id=workspace_id)
    query = request.GET.get("q", "").strip()[:MAX_QUERY_LENGTH]
    results = workspace_search(workspace=workspace, query=query) if query else None
    return render(
        request, "search/results.html", {"workspace": workspace, "query": query, "results": results}
    )


@login_required
@require_GET
def message_in_context_view(request: AuthenticatedHttpRequest, message_id: int) -> HttpResponse:
    """The message with the messages just before and after it, marked, for members only (404
    alike otherwise): the thread page opens at its newest messages, which may not include it.
    Each as everyone is shown it (an answer being written at its text so far)."""
    message = (
        Message.objects.select_related("thread__workspace", "author", "assistant", "generation")
        .filter(pk=message_id, deleted_at__isnull=True)
        .first()
    )
    if (
        message is None
        or membership_get(user=request.user, workspace_id=message.thread.workspace_id) is None
    ):
        raise Http404("No such message.")
    thread_messages = Message.objects.filter(thread_id=message.thread_id).select_related(
        "author", "assistant", "generation"
    )
    before = list(thread_messages.filter(id__lt=message.pk).order_by("-id")[:MESSAGES_AROUND])
    after = list(thread_messages.filter(id__gt=message.pk).order_by("id")[:MESSAGES_AROUND])
    workspace = message.thread.workspace
    context = {
        "workspace": workspace,
        "thread": message.thread,
        "found_id": message.pk,
        "messages": messages_read([*reversed(before), message, *after], workspace_id=workspace.pk),
        "query": request.GET.get("q", "")[:MAX_QUERY_LENGTH],
    }
    return render(request, "search/message.html", context)
