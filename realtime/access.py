"""Is a socket's session still good? The checks Django makes on every request, on demand."""

from importlib import import_module

from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest


def session_user_get(*, session_key: str | None, user_id: int) -> AbstractBaseUser | None:
    """The account the session still logs in, if it is ``user_id``'s and active; else None.

    None once the session was logged out or expired, the password changed since it logged in
    (the session carries a hash of it), or the account was deactivated or deleted.
    """
    if not session_key:
        return None
    request = HttpRequest()
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = get_user(request)
    if not user.is_authenticated or user.pk != user_id:
        return None
    return user
