"""``{% documents_panel workspace %}``: the workspace page's list of documents."""

from typing import Any

from django import template

from workspace.models import Workspace
from workspace.selectors import membership_get

from ..selectors import document_list, document_list_restorable

register = template.Library()


@register.inclusion_tag("documents/_documents_panel.html", takes_context=True)
def documents_panel(context: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
    user = context["user"]
    membership = membership_get(user=user, workspace_id=workspace.pk)
    return {
        "workspace": workspace,
        "documents": document_list(workspace=workspace),
        "restorable": document_list_restorable(workspace=workspace),
        "can_edit": membership is not None and membership.can_edit,
        "csrf_token": context.get("csrf_token"),
    }
