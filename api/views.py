"""The page where a person makes and revokes their API tokens, and the pages' exports."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from chat.selectors import thread_get_for_member
from documents.selectors import document_access_get
from workspace.http import AuthenticatedHttpRequest

from .exports import document_export_file, thread_export_file
from .forms import NEVER_WARNING, ApiTokenForm
from .selectors import api_token_get_for_user, api_token_list
from .services import api_token_create, api_token_revoke


@login_required
def api_token_list_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The person's tokens, and a form to make one. A new token's secret is shown in the
    answer to the POST that made it, once: it is stored only as a hash."""
    form = ApiTokenForm(request.POST or None, user=request.user)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            token, secret = api_token_create(
                user=request.user,
                name=form.cleaned_data["name"],
                workspace=form.cleaned_data["workspace"],
                read_only=form.cleaned_data["read_only"],
                lifetime=form.cleaned_data["lifetime"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            created = {"token": token, "secret": secret}
            form = ApiTokenForm(user=request.user)
    context = {
        "tokens": api_token_list(user=request.user),
        "form": form,
        "created": created,
        "never_warning": NEVER_WARNING,
        "api_base": request.build_absolute_uri("/api/"),
        "v1_base": request.build_absolute_uri("/v1"),
    }
    return render(request, "api/tokens.html", context, status=201 if created else 200)


@login_required
@require_POST
def api_token_revoke_view(request: AuthenticatedHttpRequest, token_id: int) -> HttpResponse:
    api_token_revoke(token=api_token_get_for_user(user=request.user, token_id=token_id))
    return redirect("api-tokens")


@login_required
@require_GET
def thread_export_view(request: AuthenticatedHttpRequest, thread_id: int) -> HttpResponse:
    """The thread page's export: Markdown, or JSON with ``?format=json``; 404 for outsiders."""
    thread = thread_get_for_member(user=request.user, thread_id=thread_id)
    return thread_export_file(thread=thread, as_json=request.GET.get("format") == "json")


@login_required
@require_GET
def document_export_view(request: AuthenticatedHttpRequest, document_id: int) -> HttpResponse:
    """The document page's export, as Markdown; 404 for outsiders."""
    document = document_access_get(user=request.user, document_id=document_id).document
    return document_export_file(document=document)
