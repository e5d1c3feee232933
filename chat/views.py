"""Thread pages. The transcript is rendered from the database; live updates come over the socket."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from workspace.http import AuthenticatedHttpRequest
from workspace.selectors import workspace_get_for_member
from workspace.views import members_panel_context

from .forms import ThreadForm
from .selectors import message_list, thread_get_for_member, thread_list
from .services import thread_create


@login_required
def workspace_threads_view(request: AuthenticatedHttpRequest, workspace_id: int) -> HttpResponse:
    """A workspace's page: its threads, a form to start one, and its members."""
    workspace = workspace_get_for_member(user=request.user, workspace_id=workspace_id)
    form = ThreadForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        thread = thread_create(
            workspace=workspace, title=form.cleaned_data["title"], created_by=request.user
        )
        return redirect("thread-detail", thread_id=thread.pk)
    context = {
        "threads": thread_list(workspace=workspace),
        "thread_form": form,
        **members_panel_context(request, workspace),
    }
    return render(request, "chat/workspace.html", context)


@login_required
@require_GET
def thread_detail_view(request: AuthenticatedHttpRequest, thread_id: int) -> HttpResponse:
    thread = thread_get_for_member(user=request.user, thread_id=thread_id)
    context = {
        "thread": thread,
        "workspace": thread.workspace,
        "messages": message_list(thread=thread),
        "assistant_name": settings.ASSISTANT_NAME,
        "max_length": settings.MESSAGE_MAX_LENGTH,
    }
    return render(request, "chat/thread.html", context)
