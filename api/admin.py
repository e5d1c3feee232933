from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import ApiToken
from .services import api_token_revoke


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

    actions = ["revoke"]

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset.filter(revoked_at__isnull=True):
            api_token_revoke(token=token)

    def has_add_permission(self, request: HttpRequest) -> bool:
        """People make their tokens on their tokens page: the secret is only shown there."""
        return False
