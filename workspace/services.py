"""Writes about workspaces."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from .models import Membership, Workspace


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
