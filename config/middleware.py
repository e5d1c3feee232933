"""Headers every response gets: no stored copies of private pages, no unused browser features."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers

PRIVATE_CONTENT_TYPES = ("application/json", "text/event-stream")


def private_responses_middleware(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """``Cache-Control: no-store`` on what a signed-in person sees and on every JSON answer.

    A page or a JSON answer holds one member's view of a workspace: no browser or proxy cache
    may keep it for the next person at that computer (the back button after logging out).
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        is_private = request.user.is_authenticated or response.get("Content-Type", "").startswith(
            PRIVATE_CONTENT_TYPES
        )
        if is_private:
            add_never_cache_headers(response)
        return response

    return middleware
