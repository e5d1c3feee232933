from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from .models import Assistant, Generation, Message, Thread
from .services import assistant_handle_free_check


class AssistantAdminForm(forms.ModelForm):
    """The same rule as in the workspace: a handle names one participant."""

    class Meta:
        model = Assistant
        fields = [
            "workspace",
            "handle",
            "display_name",
            "colour",
            "model",
            "system_prompt",
            "temperature",
            "max_tokens",
            "created_by",
        ]

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        workspace, handle = data.get("workspace"), data.get("handle")
        if workspace is not None and isinstance(handle, str):
            data["handle"] = handle.lower()
            candidate = Assistant(pk=self.instance.pk, workspace=workspace, handle=handle.lower())
            try:
                assistant_handle_free_check(candidate)
            except ValidationError as exc:
                self.add_error(None, exc)
        return data


@admin.register(Assistant)
class AssistantAdmin(admin.ModelAdmin):
    form = AssistantAdminForm
    list_display = ["handle", "display_name", "workspace", "model", "temperature", "max_tokens"]
    list_filter = ["workspace", "model"]
    search_fields = ["handle", "display_name", "workspace__name"]
    autocomplete_fields = ["workspace", "created_by"]
    list_select_related = ["workspace", "model"]


@admin.register(Thread)
class ThreadAdmin(admin.ModelAdmin):
    list_display = ["title", "workspace", "created_by", "created_at"]
    list_filter = ["workspace", "created_at"]
    search_fields = ["title", "workspace__name"]
    autocomplete_fields = ["workspace", "created_by"]
    readonly_fields = ["revision"]
    raw_id_fields = ["answerer"]


class GenerationInline(admin.StackedInline):
    """What produced an answer: written by the model worker, read here."""

    model = Generation
    can_delete = False
    extra = 0
    max_num = 0
    readonly_fields = [
        "assistant",
        "assistant_handle",
        "model_name",
        "system_prompt",
        "parameters",
        "thread_overrides",
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
    raw_id_fields = ["thread", "author", "assistant", "in_reply_to", "requested_by"]
    readonly_fields = ["created_at", "updated_at", "finished_at", "last_seq", "revision"]
    inlines = [GenerationInline]
