"""Writes about API tokens."""

import secrets
from datetime import timedelta

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from workspace.models import Workspace
from workspace.selectors import workspace_list_for_user

from .models import TOKEN_LIFETIME_DEFAULT, TOKEN_PREFIX, ApiToken

# ``last_used_at`` is written at most this often per token, not once per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_token_create(
    *,
    user: User,
    name: str,
    workspace: Workspace | None = None,
    read_only: bool = False,
    lifetime: timedelta | None = TOKEN_LIFETIME_DEFAULT,
) -> tuple[ApiToken, str]:
    """Make a token for ``user`` that works for ``lifetime`` (None: until revoked); returns
    it and the secret, which is never stored or shown again. Raises ValidationError for a
    workspace the person is not a member of."""
    if (
        workspace is not None
        and not workspace_list_for_user(user=user).filter(pk=workspace.pk).exists()
    ):
        raise ValidationError({"workspace": "You are not a member of that workspace."})
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the token a name, to know it again."})
    if lifetime is not None and lifetime <= timedelta(0):
        raise ValidationError({"lifetime": "A token must work for some time, or never expire."})
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        token_hash=ApiToken.hash_token(raw),
        hint=raw[: len(TOKEN_PREFIX) + 6],
        workspace=workspace,
        read_only=read_only,
        expires_at=None if lifetime is None else timezone.now() + lifetime,
    )
    return token, raw


def api_token_revoke(*, token: ApiToken) -> None:
    """The token stops working at once, on every web replica (it is looked up per request)."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


def api_token_used(*, token: ApiToken) -> None:
    """Record that the token was just used (at most once per LAST_USED_RESOLUTION)."""
    now = timezone.now()
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ).update(last_used_at=now)
