"""Workspace pages: the list, members, invitations and the people a mention names."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.workspace_list_view, name="workspace-list"),
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
]
