from django.contrib import admin

from .models import ModelJob


@admin.register(ModelJob)
class ModelJobAdmin(admin.ModelAdmin):
    """Model jobs as they went, for staff to look into: written by the lifecycle only."""

    list_display = ["id", "kind", "status", "model", "workspace", "requested_by", "created_at"]
    list_filter = ["status", "kind", "model"]
    list_select_related = ["model", "workspace", "requested_by"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
