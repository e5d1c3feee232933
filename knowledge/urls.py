from django.urls import path

from . import passages, views

urlpatterns = [
    path(
        "sources/<int:source_id>/passages/<int:chunk_id>/",
        passages.source_passage_view,
        name="source-passage",
    ),
    path("w/<int:workspace_id>/sources/", views.sources_view, name="sources"),
    path("w/<int:workspace_id>/sources/upload/", views.source_upload_view, name="source-upload"),
    path("w/<int:workspace_id>/sources/url/", views.source_url_view, name="source-url"),
    path("sources/<int:source_id>/remove/", views.source_remove_view, name="source-remove"),
    path("sources/<int:source_id>/reindex/", views.source_reindex_view, name="source-reindex"),
    path("sources/<int:source_id>/url/", views.source_url_change_view, name="source-url-change"),
    path("sources/<int:source_id>/cancel/", views.source_cancel_view, name="source-cancel"),
]
