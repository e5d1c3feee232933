"""``{% sidebar %}``: the navigation beside every page of a logged-in person.

Their workspaces, and in the current one its threads (the most recently active first, each
with how many messages they have not read) and its documents, the current place marked. Three
queries whatever the numbers: the workspaces, the threads with their unread counts, the
documents (``documents_nav``); on a page that lists the threads already (the workspace page's
``sidebar_threads``), that list is the sidebar's, read once.
"""

from typing import Any

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from workspace.selectors import workspace_list_for_user

from ..selectors import thread_list_with_unread

register = template.Library()


@register.inclusion_tag("chat/_sidebar.html", takes_context=True)
def sidebar(context: template.Context, *, live_with_page: bool = False) -> dict[str, Any]:
    """``live_with_page``: the page's own socket brings the sidebar's events (a thread's
    does), so the sidebar opens none of its own."""
    user = context["user"]
    workspaces = list(workspace_list_for_user(user=user))
    shown = context.get("workspace")
    # Only a workspace the person is a member of (an invitation's page names another one).
    workspace = next((each for each in workspaces if shown and each.pk == shown.pk), None)
    thread, document = context.get("thread"), context.get("document")
    threads = context.get("sidebar_threads")  # the page's own list of them, if it has one
    if threads is None:
        threads = (
            thread_list_with_unread(workspace=workspace, reader=user).only("pk", "title")
            if workspace
            else []
        )
    return {
        "user": user,
        "workspaces": workspaces,
        "workspace": workspace,
        "threads": threads,
        "current_thread_id": getattr(thread, "pk", None),
        "current_document_id": getattr(document, "pk", None),
        "own_socket": workspace is not None and not live_with_page,
    }


@register.simple_tag
def unread_badge(thread_id: int, count: int | None, *, oob: bool = False) -> SafeString:
    """A thread's unread count wherever a page lists the thread (the sidebar, the workspace
    page), one element per thread that the live count replaces (``oob``). A tag, not an
    included template: a page with a few hundred threads shows it a few hundred times."""
    swap = (
        format_html(" hx-swap-oob=\"outerHTML:[data-unread-for='{}']\"", thread_id) if oob else ""
    )
    shown = format_html('{}<span class="visually-hidden"> unread</span>', count) if count else ""
    return format_html(
        '<span class="unread" data-unread-for="{}" data-count="{}"{}>{}</span>',
        thread_id,
        count or 0,
        swap,
        shown,
    )


@register.simple_tag
def nav_thread(
    thread_id: int, title: str, unread: int | None = None, *, current_thread_id: int | None = None
) -> SafeString:
    """One thread in the sidebar, marked when it is the page's own. A tag, not an included
    template: the sidebar lists every thread of the workspace on every page."""
    current = mark_safe(' aria-current="page"') if thread_id == current_thread_id else ""
    return format_html(
        '<li id="nav-thread-{}"><a href="{}"{}><span class="nav-title">{}</span>{}</a></li>',
        thread_id,
        reverse("thread-detail", args=[thread_id]),
        current,
        title,
        unread_badge(thread_id, unread),
    )
