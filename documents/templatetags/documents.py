"""``{% documents_panel workspace %}``: the workspace page's list of documents."""

from typing import Any

from django import template

from workspace.models import Membership, Workspace

from ..selectors import document_list, document_list_restorable

register = template.Library()


@register.inclusion_tag("documents/_documents_panel.html", takes_context=True)
def documents_panel(context: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
    user = context["user"]
    role = workspace.memberships.filter(user=user).values_list("role", flat=True).first()
    return {
        "workspace": workspace,
        "documents": document_list(workspace=workspace),
        "restorable": document_list_restorable(workspace=workspace),
        "can_edit": role is not None and role != Membership.Role.VIEWER,
        "csrf_token": context.get("csrf_token"),
    }
