"""Reads about workspaces, always from the point of view of a user."""

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet
from django.http import Http404

from .models import Membership, Workspace


def workspace_list_for_user(*, user: User | AnonymousUser) -> QuerySet[Workspace]:
    if not user.is_authenticated:
        return Workspace.objects.none()
    return Workspace.objects.filter(memberships__user=user)


def workspace_get_for_member(*, user: User | AnonymousUser, workspace_id: int) -> Workspace:
    """Return the workspace, or raise 404 alike for unknown ids and non-members."""
    try:
        return workspace_list_for_user(user=user).get(pk=workspace_id)
    except Workspace.DoesNotExist as exc:
        raise Http404("No such workspace.") from exc


def membership_is_owner(*, user: User | AnonymousUser, workspace: Workspace) -> bool:
    return (
        user.is_authenticated
        and Membership.objects.filter(
            workspace=workspace, user=user, role=Membership.Role.OWNER
        ).exists()
    )


def membership_list(*, workspace: Workspace) -> QuerySet[Membership]:
    return workspace.memberships.select_related("user").order_by("-role", "user__username")
