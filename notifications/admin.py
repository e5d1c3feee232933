from django.contrib import admin
from django.http import HttpRequest

from .models import Notification, NotificationSettings, PushSubscription


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["recipient", "kind", "workspace", "text", "created_at", "read_at"]
    list_filter = ["kind"]
    readonly_fields = ["recipient", "kind", "workspace", "target_url", "text", "created_at"]


@admin.register(NotificationSettings)
class NotificationSettingsAdmin(admin.ModelAdmin):
    list_display = ["person", "level"]


@admin.register(PushSubscription)
class PushSubscriptionAdmin(admin.ModelAdmin):
    """The devices notifications are pushed to. Made only by the browsers themselves; staff
    may remove one (the person turns it on again from their inbox). The keys are not shown."""

    list_display = ["person", "workspace", "push_service", "device", "created_at"]
    list_filter = ["workspace"]
    search_fields = ["person__username", "device"]
    fields = readonly_fields = ("person", "workspace", "endpoint", "device", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
