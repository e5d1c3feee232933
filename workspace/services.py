"""Writes about workspaces."""

import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .models import Invitation, Membership, Workspace


@transaction.atomic
def workspace_create(*, name: str, owner: User) -> Workspace:
    workspace = Workspace.objects.create(name=name, created_by=owner)
    Membership.objects.create(workspace=workspace, user=owner, role=Membership.Role.OWNER)
    return workspace


def membership_add(*, workspace: Workspace, username_or_email: str) -> Membership:
    """Add an existing user, found by username or e-mail, as a member.

    Raises ValidationError with a message fit for the person who asked.
    """
    wanted = username_or_email.strip()
    users = get_user_model().objects.filter(Q(username__iexact=wanted) | Q(email__iexact=wanted))
    user = users.first() if wanted else None
    if user is None:
        raise ValidationError(f"No user with the username or e-mail “{wanted}”.")
    membership, created = Membership.objects.get_or_create(workspace=workspace, user=user)
    if not created:
        raise ValidationError(f"{user} is already a member.")
    return membership


def invitation_create(
    *,
    workspace: Workspace,
    created_by: User,
    valid_for: timedelta = Invitation.DEFAULT_VALID_FOR,
    max_uses: int | None = None,
) -> tuple[Invitation, str]:
    """Create an invitation; return it with its token, which exists nowhere else afterwards."""
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        workspace=workspace,
        created_by=created_by,
        token_hash=Invitation.hash_token(token),
        expires_at=timezone.now() + valid_for,
        max_uses=max_uses,
    )
    return invitation, token


def invitation_revoke(*, invitation: Invitation) -> None:
    """End the link at once; members who joined through it stay."""
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: User) -> Membership:
    """Make ``user`` a member. Someone already in the workspace keeps their role and uses nothing.

    Raises ValidationError if the link no longer works; the row is locked so that two people
    cannot both take the last use.
    """
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    invitation.check_usable()
    membership, created = Membership.objects.get_or_create(
        workspace=invitation.workspace, user=user
    )
    if created:
        invitation.use_count += 1
        invitation.save(update_fields=["use_count"])
    return membership


@transaction.atomic
def invitation_accept_with_new_account(*, invitation: Invitation, user: User) -> Membership:
    """Save a new, validated account and join with it: a dead link leaves no account behind."""
    user.save()
    return invitation_accept(invitation=invitation, user=user)


def membership_role_set(*, workspace: Workspace, user: User, role: str) -> Membership:
    """Make a member a viewer (who reads but changes no document) or a member again.

    Owners stay owners here; the person's open pages follow at once (``realtime``).
    """
    if role not in (Membership.Role.MEMBER, Membership.Role.VIEWER):
        raise ValidationError("A member can be made a viewer or a member.")
    membership = workspace.memberships.filter(user=user).first()
    if membership is None:
        raise ValidationError(f"{user} is not a member.")
    if membership.role == Membership.Role.OWNER:
        raise ValidationError("Owners keep their role here; change it in the admin.")
    if membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_remove(*, workspace: Workspace, user: User, by: User) -> None:
    """An owner removes a member, or a member leaves. The last owner can do neither.

    The person's open sockets on the workspace close as the removal commits (``realtime``).
    """
    membership = Membership.objects.select_for_update().filter(workspace=workspace, user=user)
    removed = membership.first()
    if removed is None:
        raise ValidationError(f"{user} is not a member.")
    owners = workspace.memberships.filter(role=Membership.Role.OWNER)
    if by != user and not owners.filter(user=by).exists():
        raise PermissionDenied("Only the workspace's owners can remove members.")
    if removed.role == Membership.Role.OWNER and owners.count() == 1:
        raise ValidationError("A workspace needs an owner: make someone else owner first.")
    removed.delete()
