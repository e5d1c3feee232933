"""Chat's part of the workspace page (which the project's ``config.pages`` composes): its
threads with what each person has not read, the form that starts a thread, its assistants."""

from typing import Any

from django.conf import settings
from django.core.paginator import Paginator

from workspace.http import AuthenticatedHttpRequest
from workspace.models import Workspace

from .forms import ThreadForm
from .models import Thread
from .selectors import assistant_list, thread_list_with_unread
from .services import thread_create

# The workspace page lists this many threads at a time (the sidebar lists every one).
THREADS_PER_PAGE = 50


def thread_start(
    request: AuthenticatedHttpRequest, workspace: Workspace
) -> tuple[ThreadForm, Thread | None]:
    """The page's form to start a thread, bound to a POST; the thread it started, if any."""
    form = ThreadForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        thread = thread_create(
            workspace=workspace, title=form.cleaned_data["title"], created_by=request.user
        )
        return form, thread
    return form, None


def threads_panel_context(
    request: AuthenticatedHttpRequest, workspace: Workspace, *, thread_form: ThreadForm
) -> dict[str, Any]:
    """What the threads and assistants panels show: a page of the threads (``?page=``), the
    most recently active first. The sidebar lists them all (``sidebar_threads``): one query
    reads them and their unread counts for both."""
    threads = list(thread_list_with_unread(workspace=workspace, reader=request.user))
    return {
        "thread_page": Paginator(threads, THREADS_PER_PAGE).get_page(request.GET.get("page")),
        "sidebar_threads": threads,
        "thread_form": thread_form,
        "assistants": assistant_list(workspace=workspace),
        "default_assistant": settings.ASSISTANT_NAME,
    }
