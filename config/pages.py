"""Pages that span several apps: the workspace page, composed of each app's panel."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.http import require_GET

from chat.panels import thread_start, threads_panel_context
from workspace.http import AuthenticatedHttpRequest
from workspace.selectors import workspace_get_for_member
from workspace.views import members_panel_context


@login_required
def workspace_page_view(request: AuthenticatedHttpRequest, workspace_id: int) -> HttpResponse:
    """A workspace's page: its threads and a form to start one, its documents, its assistants
    and its members (the documents panel is a template tag of the documents app)."""
    workspace = workspace_get_for_member(user=request.user, workspace_id=workspace_id)
    thread_form, thread = thread_start(request, workspace)
    if thread is not None:
        return redirect("thread-detail", thread_id=thread.pk)
    context = {
        **threads_panel_context(request, workspace, thread_form=thread_form),
        **members_panel_context(request, workspace),
    }
    return render(request, "pages/workspace.html", context)


@require_GET
def favicon_view(request: HttpRequest) -> HttpResponse:
    """``/favicon.ico``, which browsers ask for on pages that name no icon (the admin's): the
    icon our own pages name."""
    return redirect(static("favicon.svg"))
