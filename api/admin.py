from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from .models import TOKEN_EXPIRY_SOON, ApiToken
from .services import api_token_revoke


class ExpiryFilter(admin.SimpleListFilter):
    """Which tokens stop working soon (to warn their people), have stopped, or never will."""

    title = "expiry"
    parameter_name = "expiry"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("soon", f"Expiring within {TOKEN_EXPIRY_SOON.days} days"),
            ("expired", "Expired"),
            ("never", "Never expires"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> QuerySet[ApiToken]:
        if self.value() == "soon":
            return queryset.filter(pk__in=ApiToken.objects.expiring_soon())
        if self.value() == "expired":
            return queryset.filter(expires_at__lte=timezone.now())
        if self.value() == "never":
            return queryset.filter(expires_at__isnull=True)
        return queryset


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
        "expires",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = [ExpiryFilter, "read_only", "revoked_at"]
    search_fields = ["name", "user__username", "hint"]
    readonly_fields = [
        "user",
        "name",
        "hint",
        "workspace",
        "read_only",
        "created_at",
        "expires_at",
        "last_used_at",
    ]

    actions = ["revoke"]

    @admin.display(description="expires", ordering="expires_at", empty_value="never")
    def expires(self, token: ApiToken) -> Any:
        return token.expires_at

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset.filter(revoked_at__isnull=True):
            api_token_revoke(token=token)

    def has_add_permission(self, request: HttpRequest) -> bool:
        """People make their tokens on their tokens page: the secret is only shown there."""
        return False
