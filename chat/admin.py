from django.contrib import admin

from .models import Generation, Message, Thread


@admin.register(Thread)
class ThreadAdmin(admin.ModelAdmin):
    list_display = ["title", "workspace", "created_by", "created_at"]
    list_filter = ["workspace", "created_at"]
    search_fields = ["title", "workspace__name"]
    autocomplete_fields = ["workspace", "created_by"]
    readonly_fields = ["revision"]


class GenerationInline(admin.StackedInline):
    """What produced an answer: written by the model worker, read here."""

    model = Generation
    can_delete = False
    extra = 0
    max_num = 0
    readonly_fields = [
        "model_name",
        "parameters",
        "prompt_tokens",
        "completion_tokens",
        "time_to_first_token_ms",
        "tokens_per_second",
        "started_at",
    ]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "thread",
        "role",
        "author",
        "status",
        "generation__model_name",
        "stop_reason",
        "generation__completion_tokens",
        "generation__tokens_per_second",
        "created_at",
    ]
    list_filter = ["role", "status", "generation__model_name", "created_at"]
    search_fields = ["body", "author__username", "thread__title"]
    list_select_related = ["thread", "author", "generation"]
    raw_id_fields = ["thread", "author", "in_reply_to", "requested_by"]
    readonly_fields = ["created_at", "updated_at", "finished_at", "last_seq", "revision"]
    inlines = [GenerationInline]
