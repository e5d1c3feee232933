"""Thread pages. The transcript is rendered from the database; live updates come over the socket."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from workspace.http import AuthenticatedHttpRequest
from workspace.selectors import workspace_get_for_member

from .events import thread_settings_data
from .forms import AssistantForm, ThreadSettingsForm
from .mentions import trailing_mention
from .message_read import MessageRead
from .models import ASSISTANT_FIELDS
from .rendering import message_html
from .replies import reply_retry, reply_stop
from .selectors import (
    assistant_get_for_member,
    handle_suggestions,
    message_get_for_member,
    message_page,
    message_read,
    thread_get_for_member,
    thread_read_up_to,
)
from .services import (
    assistant_create,
    assistant_update,
    message_delete,
    message_edit,
    thread_read_mark,
    thread_settings_update,
)


@login_required
@require_GET
def thread_detail_view(request: AuthenticatedHttpRequest, thread_id: int) -> HttpResponse:
    thread = thread_get_for_member(user=request.user, thread_id=thread_id)
    page = message_page(thread=thread)
    read_up_to = thread_read_up_to(thread=thread, reader=request.user)
    context = {
        "thread": thread,
        "workspace": thread.workspace,
        "page": page,
        "read_up_to": read_up_to,
        "first_unread_id": _first_unread_id(page.messages, read_up_to, reader=request.user),
        "settings": thread_settings_data(thread),
        "settings_form": ThreadSettingsForm(thread=thread),
        "assistant_name": settings.ASSISTANT_NAME,
        "max_length": settings.MESSAGE_MAX_LENGTH,
    }
    return render(request, "chat/thread.html", context)


def _first_unread_id(messages: list[MessageRead], read_up_to: int, *, reader: User) -> int | None:
    """Where the "new messages" line goes: before the first message the reader has not
    read, of another person's or an ended answer (``selectors.thread_unread_count``)."""
    for message in messages:
        if (
            message.id > read_up_to
            and not message.is_active
            and message.author_id != reader.pk
            and message.deleted_at is None
        ):
            return message.id
    return None


@login_required
@require_POST
def thread_read_view(request: AuthenticatedHttpRequest, thread_id: int) -> HttpResponse:
    """The thread page was shown up to message ``message`` (the page reports it while the
    tab is visible): the person's unread messages there end at it, on all their pages."""
    thread = thread_get_for_member(user=request.user, thread_id=thread_id)
    try:
        message_id = int(request.POST["message"])
        thread_read_mark(thread=thread, reader=request.user, message_id=message_id)
    except (KeyError, ValueError):
        return JsonResponse({"error": "Say which message was read (message=<id>)."}, status=400)
    except ValidationError as exc:
        return JsonResponse({"error": " ".join(exc.messages)}, status=400)
    return HttpResponse(status=204)


@login_required
@require_http_methods(["GET", "POST"])
def thread_settings_view(request: AuthenticatedHttpRequest, thread_id: int) -> HttpResponse:
    """The thread's settings form. GET: as they now are (the page reads it again when a
    member changed them, unless this person is editing the form).
    POST: a member changes them; everyone sees them change over the socket.

    Answers with the form, which htmx swaps in place: the saved values, or the errors
    (as the members panel does, so that htmx shows them).
    """
    thread = thread_get_for_member(user=request.user, thread_id=thread_id)
    posted = request.method == "POST"
    form = ThreadSettingsForm(request.POST if posted else None, thread=thread)
    saved = False
    if posted and form.is_valid():
        try:
            thread_settings_update(thread=thread, by=request.user, **form.settings())
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            form, saved = ThreadSettingsForm(thread=thread), True
    context = {"thread": thread, "settings_form": form, "saved": saved}
    return render(request, "chat/_thread_settings_form.html", context)


@login_required
def assistant_create_view(request: AuthenticatedHttpRequest, workspace_id: int) -> HttpResponse:
    """Any member adds an assistant to the workspace."""
    workspace = workspace_get_for_member(user=request.user, workspace_id=workspace_id)
    form = AssistantForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            assistant_create(
                workspace=workspace, created_by=request.user, **_assistant_fields(form)
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return redirect("workspace-detail", workspace_id=workspace.pk)
    return render(request, "chat/assistant_form.html", {"workspace": workspace, "form": form})


@login_required
def assistant_edit_view(request: AuthenticatedHttpRequest, assistant_id: int) -> HttpResponse:
    """Any member changes one of the workspace's assistants; 404 for non-members."""
    assistant = assistant_get_for_member(user=request.user, assistant_id=assistant_id)
    form = AssistantForm(request.POST or None, instance=assistant)
    if request.method == "POST" and form.is_valid():
        try:
            assistant_update(assistant=assistant, **_assistant_fields(form))
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return redirect("workspace-detail", workspace_id=assistant.workspace_id)
    context = {"workspace": assistant.workspace, "form": form, "assistant": assistant}
    return render(request, "chat/assistant_form.html", context)


def _assistant_fields(form: AssistantForm) -> dict[str, object]:
    return {name: form.cleaned_data[name] for name in ASSISTANT_FIELDS}


@login_required
@require_POST
def handle_suggestions_view(request: AuthenticatedHttpRequest, thread_id: int) -> HttpResponse:
    """The handles that complete the ``@…`` being typed at the end of ``body``, as the
    composer's list of suggestions (empty when no mention is being typed).

    A read, but POSTed: the draft travels in the body, so it never lands in access logs.
    """
    thread = thread_get_for_member(user=request.user, thread_id=thread_id)
    prefix = trailing_mention(request.POST.get("body", "")[: settings.MESSAGE_MAX_LENGTH])
    found = [] if prefix is None else handle_suggestions(workspace=thread.workspace, prefix=prefix)
    return render(request, "chat/_handle_suggestions.html", {"suggestions": found})


@login_required
@require_GET
def thread_earlier_view(request: AuthenticatedHttpRequest, thread_id: int) -> HttpResponse:
    """The page of messages before ``?before=<id>``, as the transcript loads it on scroll."""
    thread = thread_get_for_member(user=request.user, thread_id=thread_id)
    try:
        before = int(request.GET["before"])
    except (KeyError, ValueError):
        return HttpResponse(
            "Say which message to load the messages before (?before=<id>).", status=400
        )
    page = message_page(thread=thread, before=before)
    return render(request, "chat/_transcript.html", {"page": page})


@login_required
@require_GET
def message_status_view(request: AuthenticatedHttpRequest, message_id: int) -> JsonResponse:
    """A message as JSON, for clients that poll instead of holding a socket: as the API
    gives it (``/api/messages/<id>``), an answer being written at its text so far."""
    message = message_get_for_member(user=request.user, message_id=message_id)
    return JsonResponse(message_read(message).to_data())


@login_required
@require_POST
def message_stop_view(request: AuthenticatedHttpRequest, message_id: int) -> JsonResponse:
    """Stop an assistant reply that is queued or streaming; 409 once it has ended."""
    message = message_get_for_member(user=request.user, message_id=message_id)
    if not message.is_assistant:
        return JsonResponse({"error": "Only the assistant's replies can be stopped."}, status=400)
    if not reply_stop(reply=message, by=request.user):
        return JsonResponse(
            {"error": "This reply has already ended.", **message_read(message).to_data()},
            status=409,
        )
    return JsonResponse(message_read(message).to_data(), status=202)


@login_required
@require_POST
def message_retry_view(request: AuthenticatedHttpRequest, message_id: int) -> JsonResponse:
    """Answer an ended reply's question again; the old answer stays as it was."""
    message = message_get_for_member(user=request.user, message_id=message_id)
    try:
        again = reply_retry(reply=message, by=request.user)
    except ValidationError as exc:
        return JsonResponse({"error": " ".join(exc.messages)}, status=409)
    return JsonResponse(message_read(again).to_data(), status=202)


@login_required
@require_http_methods(["GET", "POST"])
def message_edit_view(request: AuthenticatedHttpRequest, message_id: int) -> HttpResponse:
    """The author changes their message in place.

    GET: the editor, its text prefilled, which the page shows in place of the message.
    POST: the new text, as ``body`` (form) or htmx's ``HX-Prompt`` header (older pages).
    Answers htmx with the changed message, which replaces the editor (everyone else is sent
    it over the socket); other clients with the message as JSON.
    """
    message = message_get_for_member(user=request.user, message_id=message_id)
    if request.method == "GET":
        if message.is_assistant or message.author_id != request.user.pk:
            raise PermissionDenied("Only its author can change a message.")
        if message.deleted_at is not None:
            return JsonResponse({"error": "That message was deleted."}, status=409)
        return render(request, "chat/_message_edit.html", {"message": message})
    body = request.POST.get("body", request.headers.get("HX-Prompt", ""))
    try:
        message_edit(message=message, by=request.user, body=body)
    except ValidationError as exc:
        return JsonResponse({"error": " ".join(exc.messages)}, status=400)
    if request.htmx:
        return HttpResponse(message_html(message_read(message)))
    return JsonResponse(message_read(message).to_data())


@login_required
@require_POST
def message_delete_view(request: AuthenticatedHttpRequest, message_id: int) -> JsonResponse:
    message = message_get_for_member(user=request.user, message_id=message_id)
    try:
        message_delete(message=message, by=request.user)
    except ValidationError as exc:
        return JsonResponse({"error": " ".join(exc.messages)}, status=409)
    return JsonResponse(message_read(message).to_data())
