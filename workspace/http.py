"""Request types for views behind ``login_required``, so type checkers know what they carry,
and the check every view that changes a shared object makes."""

from collections.abc import Callable
from functools import wraps
from typing import Any, Protocol

from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django_htmx.middleware import HtmxDetails

from .selectors import ViewersCannot


class AuthenticatedHttpRequest(HttpRequest):
    user: User
    htmx: HtmxDetails


class Access(Protocol):
    """An object of a workspace as someone may use it (a document, a source)."""

    @property
    def can_edit(self) -> bool: ...


View = Callable[..., HttpResponse]


def editors_only_of(
    access_get: Callable[..., Access], *, id_kwarg: str, what: str
) -> Callable[[View], View]:
    """A decorator for views that change an object: ``access_get(user=..., <id_kwarg>=...)``
    finds it (404 alike for non-members and unknown ids), viewers get 403 saying they cannot
    change ``what``, and the view is called with the access in place of the id."""

    def decorate(view: View) -> View:
        @wraps(view)
        def checked(request: AuthenticatedHttpRequest, **kwargs: Any) -> HttpResponse:
            access = access_get(user=request.user, **{id_kwarg: kwargs.pop(id_kwarg)})
            if not access.can_edit:
                raise ViewersCannot(what)
            return view(request, access, **kwargs)

        return checked

    return decorate
