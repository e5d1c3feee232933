"""``{% documents_panel workspace %}``: the workspace page's list of documents;
``{% documents_nav workspace %}``, the sidebar's."""

from typing import Any

from django import template

from workspace.models import Workspace
from workspace.selectors import membership_can_edit

from ..selectors import document_list, document_list_restorable

register = template.Library()


@register.inclusion_tag("documents/_documents_panel.html", takes_context=True)
def documents_panel(context: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
    user = context["user"]
    return {
        "workspace": workspace,
        "documents": document_list(workspace=workspace),
        "restorable": document_list_restorable(workspace=workspace),
        "can_edit": membership_can_edit(user=user, workspace_id=workspace.pk),
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("documents/_nav_documents.html")
def documents_nav(workspace: Workspace, current_document_id: int | None = None) -> dict[str, Any]:
    """The sidebar's documents of the workspace (one query), the open one marked."""
    return {
        "documents": (
            document_list(workspace=workspace).select_related(None).order_by("title", "pk")
        ).only("pk", "title"),
        "current_document_id": current_document_id,
    }
