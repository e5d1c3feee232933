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
    # At the site's root, so that its scope is every page.
    path("service-worker.js", views.service_worker_view, name="service-worker"),
    path("push/", views.push_status_view, name="push-status"),
    path("w/<int:workspace_id>/push/", views.push_subscription_view, name="push-subscription"),
]
