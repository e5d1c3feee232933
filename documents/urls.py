from django.urls import path

from . import views

urlpatterns = [
    path("w/<int:workspace_id>/documents/", views.document_create_view, name="document-create"),
    path("d/<int:document_id>/", views.document_detail_view, name="document-detail"),
    path("d/<int:document_id>/rename/", views.document_rename_view, name="document-rename"),
    path("d/<int:document_id>/delete/", views.document_delete_view, name="document-delete"),
    path("d/<int:document_id>/restore/", views.document_restore_view, name="document-restore"),
    path("d/<int:document_id>/preview/", views.document_preview_view, name="document-preview"),
    path("d/<int:document_id>/write/", views.write_request_view, name="document-write"),
    path(
        "d/<int:document_id>/writes/<int:write_id>/stop/",
        views.write_stop_view,
        name="document-write-stop",
    ),
    path("t/<int:thread_id>/draft/", views.thread_draft_view, name="thread-draft"),
    path("d/<int:document_id>/versions/", views.version_create_view, name="version-create"),
    path(
        "d/<int:document_id>/versions/<int:version_id>/",
        views.version_detail_view,
        name="version-detail",
    ),
    path(
        "d/<int:document_id>/versions/<int:version_id>/restore/",
        views.version_restore_view,
        name="version-restore",
    ),
]
