"""The project's URLs: each app's pages, the workspace page composed of their panels, the API,
sign-in and the admin."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import pages

urlpatterns = [
    path("favicon.ico", pages.favicon_view, name="favicon"),
    path("w/<int:workspace_id>/", pages.workspace_page_view, name="workspace-detail"),
    path("", include("workspace.urls")),
    path("", include("chat.urls")),
    path("", include("assistant.urls")),
    path("", include("documents.urls")),
    path("", include("api.urls")),
    path("", include("knowledge.urls")),
    path("", include("search.urls")),
    path("", include("notifications.urls")),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]
