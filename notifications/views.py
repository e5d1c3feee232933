"""The inbox: a person's notifications, marking them read, what to be notified of, and the
devices they are pushed to.

Everything here is the logged-in person's own: another person's notification is 404, as an
unknown one is; push is turned on only for a workspace the person is a member of (404 alike).
"""

import json

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from workspace.http import AuthenticatedHttpRequest
from workspace.selectors import workspace_get_for_member, workspace_list_for_user

from .forms import NotificationSettingsForm
from .push import endpoint_check, subscription_info_parse
from .selectors import (
    INBOX_SHOWN,
    notification_get_for_recipient,
    notification_list,
    notification_settings_get,
    push_subscribed_workspaces,
)
from .services import (
    notification_mark_read,
    notification_settings_set,
    notifications_mark_all_read,
    push_subscription_remove,
    push_subscription_save,
)
from .vapid import vapid_public_key


@login_required
@require_GET
def inbox_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    return _inbox(request)


@login_required
@require_POST
def notification_open_view(request: AuthenticatedHttpRequest, notification_id: int) -> HttpResponse:
    """Follow a notification's link, marking it read."""
    notification = notification_get_for_recipient(
        person=request.user, notification_id=notification_id
    )
    notification_mark_read(notification=notification)
    return redirect(notification.target_url)


@login_required
@require_POST
def notification_read_view(request: AuthenticatedHttpRequest, notification_id: int) -> HttpResponse:
    notification = notification_get_for_recipient(
        person=request.user, notification_id=notification_id
    )
    notification_mark_read(notification=notification)
    if request.htmx:
        return render(request, "notifications/_item.html", {"notification": notification})
    return redirect("inbox")


@login_required
@require_POST
def notifications_read_all_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    notifications_mark_all_read(person=request.user)
    return redirect("inbox")


@login_required
@require_POST
def notification_settings_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = NotificationSettingsForm(request.POST)
    if not form.is_valid():
        return _inbox(request, settings_form=form, status=400)
    notification_settings_set(person=request.user, level=form.cleaned_data["level"])
    return redirect("inbox")


def _inbox(
    request: AuthenticatedHttpRequest,
    *,
    settings_form: NotificationSettingsForm | None = None,
    status: int = 200,
) -> HttpResponse:
    if settings_form is None:
        level = notification_settings_get(person=request.user).level
        settings_form = NotificationSettingsForm(initial={"level": level})
    notifications = notification_list(person=request.user)[:INBOX_SHOWN]
    context = {
        "notifications": notifications,
        "settings_form": settings_form,
        "workspaces": workspace_list_for_user(user=request.user).order_by("name"),
        "vapid_public_key": vapid_public_key(),
    }
    return render(request, "notifications/inbox.html", context, status=status)


@require_GET
def service_worker_view(request: HttpRequest) -> HttpResponse:
    """The service worker that shows pushed notifications. Served from the site's root: a
    worker controls at most the folder it is served from, and it must cover every page."""
    script = render_to_string("notifications/service-worker.js")
    response = HttpResponse(script, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"  # a new version reaches browsers at once
    return response


@login_required
@require_POST
def push_status_view(request: AuthenticatedHttpRequest) -> JsonResponse:
    """Which workspaces push to this browser (``{"endpoint": ...}``: its subscription's), so
    the inbox shows each as on or off. A POST: the endpoint stays out of access logs."""
    try:
        endpoint = endpoint_check(_json_of(request).get("endpoint"))
    except ValidationError as exc:
        return JsonResponse({"error": " ".join(exc.messages)}, status=400)
    workspaces = push_subscribed_workspaces(person=request.user, endpoint=endpoint)
    return JsonResponse({"workspaces": workspaces})


@login_required
@require_http_methods(["POST", "DELETE"])
def push_subscription_view(request: AuthenticatedHttpRequest, workspace_id: int) -> JsonResponse:
    """POST the browser's push subscription (``PushSubscription.toJSON()``) to have this
    workspace's notifications pushed to it; DELETE (``{"endpoint": ...}``) to stop. Answers
    which workspaces now push to that browser."""
    workspace = workspace_get_for_member(user=request.user, workspace_id=workspace_id)
    try:
        if request.method == "POST":
            info = subscription_info_parse(request.body)
            push_subscription_save(
                person=request.user,
                workspace=workspace,
                info=info,
                session_key=request.session.session_key or "",
                device=request.headers.get("User-Agent", ""),
            )
            endpoint = info.endpoint
        else:
            endpoint = endpoint_check(_json_of(request).get("endpoint"))
            push_subscription_remove(person=request.user, workspace=workspace, endpoint=endpoint)
    except ValidationError as exc:
        return JsonResponse({"error": " ".join(exc.messages)}, status=400)
    workspaces = push_subscribed_workspaces(person=request.user, endpoint=endpoint)
    return JsonResponse({"workspaces": workspaces}, status=201 if request.method == "POST" else 200)


def _json_of(request: HttpRequest) -> dict[str, object]:
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError("Send JSON.") from exc
    if not isinstance(data, dict):
        raise ValidationError("Send a JSON object.")
    return data
