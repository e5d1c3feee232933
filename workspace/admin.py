from django.contrib import admin
from django.http import HttpRequest

from .models import Invitation, Membership, Workspace


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["name", "created_by", "member_count", "created_at"]
    search_fields = ["name", "memberships__user__username"]
    list_filter = ["created_at"]
    inlines = [MembershipInline]

    @admin.display(description="members")
    def member_count(self, obj: Workspace) -> int:
        return obj.memberships.count()


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "workspace", "role", "joined_at"]
    list_filter = ["role", "workspace"]
    search_fields = ["user__username", "user__email", "workspace__name"]
    autocomplete_fields = ["user", "workspace"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = [
        "workspace",
        "created_by",
        "created_at",
        "expires_at",
        "revoked_at",
        "use_count",
    ]
    list_filter = ["workspace"]
    search_fields = ["workspace__name", "created_by__username"]
    readonly_fields = ["workspace", "created_by", "created_at", "use_count"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Owners create links on the workspace page: the link is only ever shown there, once."""
        return False
