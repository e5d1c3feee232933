from django.urls import path

from . import views

urlpatterns = [
    path("t/<int:thread_id>/", views.thread_detail_view, name="thread-detail"),
    path("t/<int:thread_id>/earlier/", views.thread_earlier_view, name="thread-earlier"),
    path("t/<int:thread_id>/handles/", views.handle_suggestions_view, name="handle-suggestions"),
    path("t/<int:thread_id>/settings/", views.thread_settings_view, name="thread-settings"),
    path("t/<int:thread_id>/read/", views.thread_read_view, name="thread-read"),
    path(
        "w/<int:workspace_id>/assistants/new/",
        views.assistant_create_view,
        name="assistant-create",
    ),
    path("assistants/<int:assistant_id>/", views.assistant_edit_view, name="assistant-edit"),
    path("m/<int:message_id>/", views.message_status_view, name="message-status"),
    path("m/<int:message_id>/stop/", views.message_stop_view, name="message-stop"),
    path("m/<int:message_id>/retry/", views.message_retry_view, name="message-retry"),
    path("m/<int:message_id>/edit/", views.message_edit_view, name="message-edit"),
    path("m/<int:message_id>/delete/", views.message_delete_view, name="message-delete"),
]
