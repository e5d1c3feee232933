"""The catch-up panel of the thread page: ask, watch (its socket), stop, dismiss.

Everything is scoped to the person asking: a member sees only their own catch-ups, and a
non-member gets 404 alike for unknown threads and catch-ups.
"""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_http_methods, require_POST

from chat.models import Thread
from chat.selectors import thread_get_for_member, thread_read_up_to, thread_unread_count
from workspace.http import AuthenticatedHttpRequest

from .catch_ups import catch_up_dismiss, catch_up_request, catch_up_stop
from .models import CatchUp
from .rendering import catch_up_panel_html
from .selectors import catch_up_get_for_requester, catch_up_latest


@login_required
@require_http_methods(["GET", "POST"])
def catch_up_view(request: AuthenticatedHttpRequest, thread_id: int) -> HttpResponse:
    """GET: the panel (the page loads it with how far the person had read, ``after``): their
    newest catch-up here, else the button if others wrote since. POST: ask for one; 409 with
    the reason when there is nothing new or they are over their limit."""
    thread = thread_get_for_member(user=request.user, thread_id=thread_id)
    source = request.POST if request.method == "POST" else request.GET
    try:
        after = max(0, int(source.get("after", "")))
    except ValueError:
        return JsonResponse(
            {"error": "Say up to which message you had read (after=<id>)."}, status=400
        )
    if request.method == "POST":
        try:
            catch_up: CatchUp | None = catch_up_request(thread=thread, by=request.user, after=after)
        except ValidationError as exc:
            return JsonResponse({"error": " ".join(exc.messages)}, status=409)
    else:
        catch_up = catch_up_latest(thread=thread, reader=request.user)
    return _panel(request, thread, catch_up, after=after)


@login_required
@require_POST
def catch_up_stop_view(request: AuthenticatedHttpRequest, catch_up_id: int) -> HttpResponse:
    """Stop one's catch-up, queued or being written (its socket shows it end); 409 once ended."""
    catch_up = catch_up_get_for_requester(user=request.user, catch_up_id=catch_up_id)
    if not catch_up_stop(catch_up=catch_up, by=request.user):
        return JsonResponse({"error": "This catch-up has already ended."}, status=409)
    return HttpResponse(status=202)


@login_required
@require_POST
def catch_up_dismiss_view(request: AuthenticatedHttpRequest, catch_up_id: int) -> HttpResponse:
    """Put an ended catch-up away; the panel offers a new one if others wrote after what the
    person has read by now."""
    catch_up = catch_up_get_for_requester(user=request.user, catch_up_id=catch_up_id)
    try:
        catch_up_dismiss(catch_up=catch_up)
    except ValidationError as exc:
        return JsonResponse({"error": " ".join(exc.messages)}, status=409)
    read_up_to = thread_read_up_to(thread=catch_up.thread, reader=request.user)
    return _panel(request, catch_up.thread, None, after=read_up_to)


def _panel(
    request: AuthenticatedHttpRequest, thread: Thread, catch_up: CatchUp | None, *, after: int
) -> HttpResponse:
    missed = 0
    if catch_up is None:
        # What others wrote since ``after``, counted as unread is everywhere (the sidebar, the
        # divider): the person's own messages are part of the summary's context, not news.
        unread = thread_unread_count(thread_id=thread.pk, reader=request.user, read_up_to=after)
        missed = unread.count
    html = catch_up_panel_html(thread=thread, catch_up=catch_up, missed=missed, after=after)
    return HttpResponse(html)
