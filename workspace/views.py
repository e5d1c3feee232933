"""Workspace pages. Every view is for logged-in members; others get 404."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from .forms import MemberAddForm, WorkspaceForm
from .http import AuthenticatedHttpRequest
from .models import Workspace
from .selectors import (
    membership_is_owner,
    membership_list,
    workspace_get_for_member,
    workspace_list_for_user,
)
from .services import membership_add, workspace_create


@login_required
def workspace_list_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = WorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        workspace = workspace_create(name=form.cleaned_data["name"], owner=request.user)
        return redirect("workspace-detail", workspace_id=workspace.pk)
    workspaces = workspace_list_for_user(user=request.user)
    return render(request, "workspace/list.html", {"workspaces": workspaces, "form": form})


@login_required
@require_POST
def member_add_view(request: AuthenticatedHttpRequest, workspace_id: int) -> HttpResponse:
    """Owners add a member; answers with the members panel (htmx) or the workspace page."""
    workspace = workspace_get_for_member(user=request.user, workspace_id=workspace_id)
    if not membership_is_owner(user=request.user, workspace=workspace):
        return HttpResponse("Only the workspace's owners can add members.", status=403)
    form = MemberAddForm(request.POST)
    added = None
    if form.is_valid():
        try:
            added = membership_add(
                workspace=workspace, username_or_email=form.cleaned_data["username_or_email"]
            )
            form = MemberAddForm()
        except ValidationError as exc:
            form.add_error("username_or_email", exc)
    if not request.htmx:
        return redirect("workspace-detail", workspace_id=workspace.pk)
    context = {"added": added, **members_panel_context(request, workspace, form)}
    return render(request, "workspace/_members.html", context)


def members_panel_context(
    request: AuthenticatedHttpRequest, workspace: Workspace, form: MemberAddForm | None = None
) -> dict[str, object]:
    """What ``workspace/_members.html`` needs, wherever the panel is shown."""
    return {
        "workspace": workspace,
        "memberships": membership_list(workspace=workspace),
        "is_owner": membership_is_owner(user=request.user, workspace=workspace),
        "member_form": form or MemberAddForm(),
    }
