"""How a request is admitted: its token, its size, its rate; and what the token may reach.

A token acts as its person: every endpoint reads through the same selectors as the browser
(membership checked on every call, 404 alike for unknown objects and other workspaces'). An
expired token gets 401 saying so. On top, a token limited to one workspace reaches nothing
outside it (404 too), and a read-only token changes nothing (403).
"""

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, RawPostDataException
from django.urls import reverse
from django.utils import timezone
from ninja.security import HttpBearer

from workspace.rate_limit import rate_limit_wait

from .errors import BEARER_CHALLENGE, ApiError
from .models import ApiToken
from .selectors import api_token_find
from .services import api_token_used

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class TokenAuth(HttpBearer):
    """``Authorization: Bearer rt_…``. ``writes_need_write_token``: unsafe methods refuse a
    read-only token (the workspace API); the OpenAI-compatible API changes no workspace."""

    def __init__(self, *, writes_need_write_token: bool = True) -> None:
        super().__init__()
        self.writes_need_write_token = writes_need_write_token

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        found = api_token_find(raw=token.strip())
        if found is None:
            return None
        token_expiry_check(found)
        request_admit(request, found, writes_need_write_token=self.writes_need_write_token)
        api_token_used(token=found)
        request.user = found.user
        return found


def token_expiry_check(token: ApiToken) -> None:
    """Refuse an expired token with its own reason: the person knows to make a new one
    rather than look for a typo."""
    if token.is_expired:
        assert token.expires_at is not None
        when = timezone.localtime(token.expires_at).strftime("%Y-%m-%d %H:%M %Z")
        raise ApiError(
            401,
            "token_expired",
            f"This API token expired on {when}. Make a new one on your API tokens page "
            f"({reverse('api-tokens')}) and use it instead.",
            headers={"WWW-Authenticate": BEARER_CHALLENGE},
        )


def request_admit(request: HttpRequest, token: ApiToken, *, writes_need_write_token: bool) -> None:
    """Refuse, with the reason, a request its token may not make, one too large, or one over
    its person's rate (``Retry-After`` says when to try again)."""
    if writes_need_write_token and token.read_only and request.method not in SAFE_METHODS:
        raise ApiError(
            403, "read_only_token", "This token is read-only: it cannot change anything."
        )
    body_size_check(request)
    limit, window_s = settings.API_RATE_LIMIT, settings.API_RATE_WINDOW_S
    wait = rate_limit_wait(f"api:{token.user_id}", limit=limit, window_s=window_s)
    if wait:
        raise ApiError(
            429,
            "rate_limited",
            f"Too many requests (at most {limit} every {window_s} s per person). "
            f"Try again in {wait} s.",
            headers={"Retry-After": str(wait)},
        )


# A file upload's form fields and boundaries, beside the file itself.
MULTIPART_OVERHEAD = 64 * 1024


def body_size_check(request: HttpRequest) -> None:
    """Bodies are JSON up to API_MAX_BODY_BYTES; a file upload (multipart: only the sources
    endpoint reads one) up to the largest source.

    A multipart body is judged by its declared length alone and never read here: Django
    streams its file parts to temporary files as it parses them, whereas ``request.body``
    would hold it all in memory and refuses (RequestDataTooBig) anything over
    DATA_UPLOAD_MAX_MEMORY_SIZE. The endpoint checks the parsed file's own size.
    """
    limit = settings.API_MAX_BODY_BYTES
    multipart = request.content_type == "multipart/form-data"
    if multipart:
        limit = settings.KNOWLEDGE_MAX_BYTES + MULTIPART_OVERHEAD
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise body_too_large(declared, limit)
    if multipart:
        return
    try:
        size = len(request.body)
    except RawPostDataException:  # already read as a stream: Django's own limit applied
        return
    except RequestDataTooBig as exc:
        raise body_too_large(declared, limit) from exc
    if size > limit:
        raise body_too_large(size, limit)


def body_too_large(size: int, limit: int) -> ApiError:
    said = f"The request body is {size:,} bytes; the limit" if size else "The limit"
    return ApiError(413, "body_too_large", f"{said} is {limit:,}.")


def token_of(request: HttpRequest) -> ApiToken:
    token: Any = getattr(request, "auth", None)
    assert isinstance(token, ApiToken), "only for endpoints behind TokenAuth"
    return token


def user_of(request: HttpRequest) -> User:
    return token_of(request).user


def workspace_scope_check(request: HttpRequest, workspace_id: int, *, what: str) -> None:
    """A token limited to one workspace sees nothing of another: 404, as for non-members."""
    limited_to = token_of(request).workspace_id
    if limited_to is not None and limited_to != workspace_id:
        raise ApiError(404, "not_found", f"No such {what}.")
