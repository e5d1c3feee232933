"""Workspace pages. Every view is for logged-in members, others get 404; except the page an
invitation link opens, which is for whoever holds the link."""

import functools
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from .forms import InvitationForm, MemberAddForm, SignupForm, WorkspaceForm
from .http import AuthenticatedHttpRequest
from .models import Invitation, Workspace
from .selectors import (
    invitation_get_by_token,
    invitation_get_for_workspace,
    invitation_list_usable,
    membership_is_owner,
    membership_list,
    person_get_for_member,
    workspace_get_for_member,
    workspace_list_for_user,
)
from .services import (
    invitation_accept,
    invitation_accept_with_new_account,
    invitation_create,
    invitation_revoke,
    membership_add,
    membership_remove,
    membership_role_set,
    workspace_create,
)


@login_required
@require_GET
def person_detail_view(request: AuthenticatedHttpRequest, user_id: int) -> HttpResponse:
    """Who a mention names: their username and the workspaces you share with them."""
    person, shared = person_get_for_member(user=request.user, person_id=user_id)
    return render(request, "workspace/person.html", {"person": person, "shared": shared})


@login_required
def workspace_list_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = WorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        workspace = workspace_create(name=form.cleaned_data["name"], owner=request.user)
        return redirect("workspace-detail", workspace_id=workspace.pk)
    workspaces = workspace_list_for_user(user=request.user)
    return render(request, "workspace/list.html", {"workspaces": workspaces, "form": form})


OwnersView = Callable[..., HttpResponse]


def owners_only(action: str) -> Callable[[OwnersView], OwnersView]:
    """For a view of a workspace's owners: 404 for non-members, 403 saying why for the other
    members; the view is given the workspace instead of its id."""

    def decorate(view: OwnersView) -> OwnersView:
        @functools.wraps(view)
        def checked(
            request: AuthenticatedHttpRequest, workspace_id: int, **kwargs: object
        ) -> HttpResponse:
            workspace = workspace_get_for_member(user=request.user, workspace_id=workspace_id)
            if not membership_is_owner(user=request.user, workspace=workspace):
                return HttpResponse(f"Only the workspace's owners can {action}.", status=403)
            return view(request, workspace, **kwargs)

        return checked

    return decorate


@login_required
@require_POST
@owners_only("add members")
def member_add_view(request: AuthenticatedHttpRequest, workspace: Workspace) -> HttpResponse:
    """Owners add a member; answers with the members panel (htmx) or the workspace page."""
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
    return _members_panel(request, workspace, form=form, added=added)


@login_required
@require_POST
def member_remove_view(
    request: AuthenticatedHttpRequest, workspace_id: int, user_id: int
) -> HttpResponse:
    """An owner removes a member, or a member leaves (then they go to their workspaces)."""
    workspace = workspace_get_for_member(user=request.user, workspace_id=workspace_id)
    membership = get_object_or_404(membership_list(workspace=workspace), user_id=user_id)
    leaving = membership.user == request.user
    try:
        membership_remove(workspace=workspace, user=membership.user, by=request.user)
    except PermissionDenied as exc:
        return HttpResponse(str(exc), status=403)
    except ValidationError as exc:
        removal_error = " ".join(exc.messages)
    else:
        if leaving:
            return _redirect(request, reverse("workspace-list"))
        removal_error = ""
    return _members_panel(request, workspace, removal_error=removal_error)


@login_required
@require_POST
@owners_only("change members' roles")
def member_role_view(
    request: AuthenticatedHttpRequest, workspace: Workspace, user_id: int
) -> HttpResponse:
    """Owners make a member a viewer (reads, changes no document), or a member again."""
    membership = get_object_or_404(membership_list(workspace=workspace), user_id=user_id)
    try:
        membership_role_set(
            workspace=workspace, user=membership.user, role=request.POST.get("role", "")
        )
    except ValidationError as exc:
        return _members_panel(request, workspace, removal_error=" ".join(exc.messages))
    return _members_panel(request, workspace)


def _members_panel(
    request: AuthenticatedHttpRequest,
    workspace: Workspace,
    *,
    form: MemberAddForm | None = None,
    **extra: object,
) -> HttpResponse:
    """After a change to the members: the panel again for htmx, else the workspace page."""
    if not request.htmx:
        return redirect("workspace-detail", workspace_id=workspace.pk)
    context = {**extra, **members_panel_context(request, workspace, form=form)}
    return render(request, "workspace/_members.html", context)


def _redirect(request: AuthenticatedHttpRequest, url: str) -> HttpResponse:
    """A redirect that htmx follows as a whole-page visit, and plain browsers as usual."""
    if request.htmx:
        return HttpResponse(headers={"HX-Redirect": url})
    return redirect(url)


@login_required
@require_POST
@owners_only("invite people")
def invitation_create_view(request: AuthenticatedHttpRequest, workspace: Workspace) -> HttpResponse:
    """Owners create an invitation link; it is shown this once, in the members panel."""
    form = InvitationForm(request.POST)
    context = members_panel_context(request, workspace, invitation_form=form)
    if form.is_valid():
        _, token = invitation_create(
            workspace=workspace,
            created_by=request.user,
            valid_for=timedelta(days=form.cleaned_data["valid_for_days"]),
            max_uses=form.cleaned_data["max_uses"],
        )
        link = request.build_absolute_uri(reverse("invitation", args=[token]))
        context = members_panel_context(request, workspace, new_invitation_link=link)
    template = "workspace/_members.html" if request.htmx else "workspace/members.html"
    return render(request, template, context)


@login_required
@require_POST
@owners_only("revoke invitations")
def invitation_revoke_view(
    request: AuthenticatedHttpRequest, workspace: Workspace, invitation_id: int
) -> HttpResponse:
    invitation_revoke(
        invitation=invitation_get_for_workspace(workspace=workspace, invitation_id=invitation_id)
    )
    return _members_panel(request, workspace)


def invitation_view(request: HttpRequest, token: str) -> HttpResponse:
    """The page an invitation link opens: join with a POST, or log in, or sign up and join.

    Links that no longer work get a page saying so (410) and nothing about the workspace.
    """
    invitation = invitation_get_by_token(token=token)
    try:
        invitation.check_usable()
        if request.user.is_authenticated:
            return _invitation_for_user(request, invitation)
        return _invitation_for_visitor(request, invitation)
    except ValidationError as exc:
        return render(
            request, "workspace/invitation_gone.html", {"reason": exc.message}, status=410
        )


def _invitation_for_user(request: HttpRequest, invitation: Invitation) -> HttpResponse:
    assert request.user.is_authenticated  # for the type checker: the caller made sure
    if request.method == "POST":
        invitation_accept(invitation=invitation, user=request.user)
        return redirect("workspace-detail", workspace_id=invitation.workspace_id)
    context = {
        "invitation": invitation,
        "is_member": invitation.workspace.memberships.filter(user=request.user).exists(),
    }
    return render(request, "workspace/invitation.html", context)


def _invitation_for_visitor(request: HttpRequest, invitation: Invitation) -> HttpResponse:
    form = SignupForm(request.POST or None) if settings.SIGNUP_ENABLED else None
    if request.method == "POST" and form is not None and form.is_valid():
        membership = invitation_accept_with_new_account(
            invitation=invitation, user=form.save(commit=False)
        )
        login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("workspace-detail", workspace_id=invitation.workspace_id)
    return render(request, "workspace/invitation.html", {"invitation": invitation, "form": form})


def members_panel_context(
    request: AuthenticatedHttpRequest,
    workspace: Workspace,
    *,
    form: MemberAddForm | None = None,
    invitation_form: InvitationForm | None = None,
    new_invitation_link: str = "",
) -> dict[str, object]:
    """What ``workspace/_members.html`` needs, wherever the panel is shown."""
    is_owner = membership_is_owner(user=request.user, workspace=workspace)
    return {
        "workspace": workspace,
        "memberships": membership_list(workspace=workspace),
        "is_owner": is_owner,
        "member_form": form or MemberAddForm(),
        "invitations": invitation_list_usable(workspace=workspace) if is_owner else [],
        "invitation_form": invitation_form or InvitationForm(),
        "new_invitation_link": new_invitation_link,
    }
