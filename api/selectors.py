"""Reads about API tokens, always for their own person."""

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import Http404

from .models import ApiToken


def api_token_list(*, user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).select_related("workspace")


def api_token_get_for_user(*, user: User, token_id: int) -> ApiToken:
    """The person's own token; 404 alike for unknown ids and other people's tokens."""
    try:
        return api_token_list(user=user).get(pk=token_id)
    except ApiToken.DoesNotExist as exc:
        raise Http404("No such token.") from exc


def api_token_find(*, raw: str) -> ApiToken | None:
    """The token ``raw`` names, if not revoked and its person's account is active; it may
    have expired (``auth.token_expiry_check`` refuses it then, saying so)."""
    if not raw.startswith("rt_") or len(raw) > 100:
        return None
    return (
        ApiToken.objects.active()
        .select_related("user")
        .filter(token_hash=ApiToken.hash_token(raw), user__is_active=True)
        .first()
    )
