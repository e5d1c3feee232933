"""Reads about workspaces, always from the point of view of a user."""

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from .models import Invitation, Membership, Workspace


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


def membership_get(*, user: User | AnonymousUser, workspace_id: int) -> Membership | None:
    """The person's membership of the workspace (its role says what they may change)."""
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(workspace_id=workspace_id, user=user).first()


def membership_can_edit(*, user: User | AnonymousUser, workspace_id: int) -> bool:
    """Whether the person may change the workspace's documents and sources: members and
    owners may, viewers (and everyone else) may not."""
    membership = membership_get(user=user, workspace_id=workspace_id)
    return membership is not None and membership.can_edit


class ViewersCannot(PermissionDenied):
    """A viewer asked to change what they may only read: 403 on the pages, the API's
    ``viewer`` error, with a message that says what they may do."""

    def __init__(self, what: str) -> None:
        super().__init__(f"Viewers can read {what} but not change them.")


def membership_editor_check(*, user: User | AnonymousUser, workspace_id: int, what: str) -> None:
    """Raise ViewersCannot unless the person may change ``what`` (documents, the sources) in
    the workspace. Callers check membership first, so that outsiders get their 404."""
    if not membership_can_edit(user=user, workspace_id=workspace_id):
        raise ViewersCannot(what)


def membership_list(*, workspace: Workspace) -> QuerySet[Membership]:
    return workspace.memberships.select_related("user").order_by("-role", "user__username")


def invitation_list_usable(*, workspace: Workspace) -> QuerySet[Invitation]:
    return workspace.invitations.usable().select_related("created_by")


def invitation_get_for_workspace(*, workspace: Workspace, invitation_id: int) -> Invitation:
    try:
        return workspace.invitations.get(pk=invitation_id)
    except Invitation.DoesNotExist as exc:
        raise Http404("No such invitation.") from exc


def invitation_get_by_token(*, token: str) -> Invitation:
    """The invitation a link names, whatever its state; 404 for a token nobody issued."""
    try:
        return Invitation.objects.select_related("workspace", "created_by").get(
            token_hash=Invitation.hash_token(token)
        )
    except Invitation.DoesNotExist as exc:
        raise Http404("No such invitation.") from exc


def person_get_for_member(
    *, user: User | AnonymousUser, person_id: int
) -> tuple[User, list[Workspace]]:
    """Someone ``user`` shares a workspace with, and the workspaces they share; 404 alike for
    unknown people and people who share none (a mention links here)."""
    shared = list(
        workspace_list_for_user(user=user).filter(memberships__user_id=person_id).order_by("name")
    )
    if not shared:
        raise Http404("No such person.")
    return User.objects.get(pk=person_id), shared
