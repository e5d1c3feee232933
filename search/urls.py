from django.urls import path

from . import views

urlpatterns = [
    path("w/<int:workspace_id>/search/", views.workspace_search_view, name="workspace-search"),
    path("search/messages/<int:message_id>/", views.message_in_context_view, name="search-message"),
]
