"""Workspaces and who belongs to them."""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


class Workspace(models.Model):
    """A team's shared space: its members see its threads and documents."""

    name = models.CharField(max_length=100)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="workspaces"
    )

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MEMBER = "member", "Member"
        VIEWER = "viewer", "Viewer (reads, cannot edit documents)"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="unique_membership")
        ]
        ordering = ["workspace", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"

    @property
    def can_edit(self) -> bool:
        return self.role != self.Role.VIEWER


class InvitationQuerySet(models.QuerySet["Invitation"]):
    def usable(self) -> "InvitationQuerySet":
        """Neither revoked, expired nor used up: the links that still let someone join."""
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now()).filter(
            models.Q(max_uses__isnull=True) | models.Q(use_count__lt=models.F("max_uses"))
        )


class Invitation(models.Model):
    """A link that lets whoever holds it join a workspace as a member.

    Only a hash of the link's token is stored: the link itself is shown once, to its creator,
    so a copy of the database lets nobody in.
    """

    DEFAULT_VALID_FOR = timedelta(days=7)

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    max_uses = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: no limit.")
    use_count = models.PositiveIntegerField(default=0)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Invitation to {self.workspace} (expires {self.expires_at:%Y-%m-%d %H:%M})"

    @staticmethod
    def hash_token(token: str) -> str:
        # The token is 256 random bits: a fast hash is enough, there is nothing to brute-force.
        return hashlib.sha256(token.encode()).hexdigest()

    def check_usable(self) -> None:
        """Raise ValidationError, worded for the person holding the link, unless it still works."""
        if self.revoked_at is not None:
            raise ValidationError("This invitation link has been revoked.", code="revoked")
        if self.expires_at <= timezone.now():
            raise ValidationError("This invitation link has expired.", code="expired")
        if self.max_uses is not None and self.use_count >= self.max_uses:
            raise ValidationError("This invitation link has been used up.", code="used_up")
