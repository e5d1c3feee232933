"""The inbox: a person's notifications, marking them read, and what to be notified of.

Everything here is the logged-in person's own: another person's notification is 404, as an
unknown one is.
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from workspace.http import AuthenticatedHttpRequest

from .forms import NotificationSettingsForm
from .selectors import (
    INBOX_SHOWN,
    notification_get_for_recipient,
    notification_list,
    notification_settings_get,
)
from .services import (
    notification_mark_read,
    notification_settings_set,
    notifications_mark_all_read,
)


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
    context = {"notifications": notifications, "settings_form": settings_form}
    return render(request, "notifications/inbox.html", context, status=status)
