from django.contrib import admin
from django.http import HttpRequest

from .models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Staff see every token and may revoke one (set "revoked at"); the secret is never here."""

    list_display = [
        "name",
        "user",
        "hint",
        "workspace",
        "read_only",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["read_only", "revoked_at"]
    search_fields = ["name", "user__username", "hint"]
    readonly_fields = [
        "user",
        "name",
        "hint",
        "workspace",
        "read_only",
        "created_at",
        "last_used_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        """People make their tokens on their tokens page: the secret is only shown there."""
        return False
