from django.contrib import admin

from .models import Message, Thread


@admin.register(Thread)
class ThreadAdmin(admin.ModelAdmin):
    list_display = ["title", "workspace", "created_by", "created_at"]
    list_filter = ["workspace", "created_at"]
    search_fields = ["title", "workspace__name"]
    autocomplete_fields = ["workspace", "created_by"]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "thread",
        "role",
        "author",
        "status",
        "model_name",
        "stop_reason",
        "completion_tokens",
        "tokens_per_second",
        "created_at",
    ]
    list_filter = ["role", "status", "model_name", "created_at"]
    search_fields = ["body", "author__username", "thread__title"]
    list_select_related = ["thread", "author"]
    raw_id_fields = ["thread", "author", "in_reply_to"]
    readonly_fields = ["created_at", "updated_at", "finished_at", "last_seq"]
