"""The project's URLs: workspace pages here, thread pages from chat, auth and admin."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.workspace_list_view, name="workspace-list"),
    path("favicon.ico", views.favicon_view, name="favicon"),
    path("w/<int:workspace_id>/members/", views.member_add_view, name="member-add"),
    path(
        "w/<int:workspace_id>/members/<int:user_id>/remove/",
        views.member_remove_view,
        name="member-remove",
    ),
    path(
        "w/<int:workspace_id>/members/<int:user_id>/role/",
        views.member_role_view,
        name="member-role",
    ),
    path(
        "w/<int:workspace_id>/invitations/",
        views.invitation_create_view,
        name="invitation-create",
    ),
    path(
        "w/<int:workspace_id>/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke_view,
        name="invitation-revoke",
    ),
    path("people/<int:user_id>/", views.person_detail_view, name="person-detail"),
    path("invite/<str:token>/", views.invitation_view, name="invitation"),
    path("", include("chat.urls")),
    path("", include("documents.urls")),
    path("", include("api.urls")),
    path("", include("knowledge.urls")),
    path("", include("search.urls")),
    path("", include("notifications.urls")),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]
