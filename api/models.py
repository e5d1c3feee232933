"""Personal API tokens: a script or a tool acts as the person who made the token."""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from workspace.models import Workspace

TOKEN_PREFIX = "rt_"

# How long a new token works, as its person chooses: None is "never" (until revoked).
TOKEN_LIFETIMES: dict[str, tuple[str, timedelta | None]] = {
    "30": ("30 days", timedelta(days=30)),
    "90": ("90 days", timedelta(days=90)),
    "365": ("1 year", timedelta(days=365)),
    "never": ("Never (until revoked)", None),
}
TOKEN_LIFETIME_CHOICE_DEFAULT = "90"
TOKEN_LIFETIME_DEFAULT = TOKEN_LIFETIMES[TOKEN_LIFETIME_CHOICE_DEFAULT][1]
# Staff look for tokens that stop working this soon (the admin's filter), to warn their people.
TOKEN_EXPIRY_SOON = timedelta(days=14)


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> "ApiTokenQuerySet":
        """Not revoked (an expired token is still active here: it is refused with its own
        reason)."""
        return self.filter(revoked_at__isnull=True)

    def expiring_soon(self) -> "ApiTokenQuerySet":
        """Working now, and not for longer than TOKEN_EXPIRY_SOON."""
        now = timezone.now()
        return self.active().filter(expires_at__gt=now, expires_at__lte=now + TOKEN_EXPIRY_SOON)


class ApiToken(models.Model):
    """A bearer token for the API, made by a person on their tokens page.

    Only a hash of the token is stored: the token itself is shown once, when it is made, so a
    copy of the database lets nobody in. Its first characters (``hint``) tell a person which
    token a row is. A token may be limited to one workspace (everything else reads as not
    found) and may be read-only (no change to any workspace). It stops working at
    ``expires_at`` (empty: never, the case of tokens made before tokens could expire), so a
    token copied into a forgotten script does not work for ever.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What it is for, e.g. “release script”.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=12, editable=False, help_text="Its first characters.")
    workspace = models.ForeignKey(
        Workspace,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="Only this workspace; empty: every workspace of its person.",
    )
    read_only = models.BooleanField(default=False, help_text="Reads only; changes nothing.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="From then on the token no longer works; empty: it never expires.",
    )

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…) of {self.user}"

    @staticmethod
    def hash_token(token: str) -> str:
        # 256 random bits: a fast hash is enough, there is nothing to brute-force.
        return hashlib.sha256(token.encode()).hexdigest()

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def never_expires(self) -> bool:
        return self.expires_at is None
