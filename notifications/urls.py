from django.urls import path

from . import views

urlpatterns = [
    path("inbox/", views.inbox_view, name="inbox"),
    path("inbox/read-all/", views.notifications_read_all_view, name="inbox-read-all"),
    path("inbox/settings/", views.notification_settings_view, name="inbox-settings"),
    path(
        "inbox/<int:notification_id>/open/", views.notification_open_view, name="notification-open"
    ),
    path(
        "inbox/<int:notification_id>/read/", views.notification_read_view, name="notification-read"
    ),
]
