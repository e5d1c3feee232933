from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from .models import ASSISTANT_FIELDS, Assistant, Generation, Message, Thread
from .services import assistant_handle_free_check


class AssistantAdminForm(forms.ModelForm):
    """The same rule as in the workspace: a handle names one participant."""

    class Meta:
        model = Assistant
        fields = ["workspace", *ASSISTANT_FIELDS, "created_by"]

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
    """What produced an answer: written by the model worker, read here, every field of it
    (its sources too: the answer's [n] link to them)."""

    model = Generation
    can_delete = False
    extra = 0
    max_num = 0

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


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

    def get_readonly_fields(self, request: HttpRequest, obj: Message | None = None) -> list[str]:
        """An answer is the model's work: staff read it (and may delete it), never rewrite its
        text, state or sources, which its readers and citations rely on."""
        if obj is not None and obj.is_assistant:
            return [field.name for field in Message._meta.fields]
        return list(self.readonly_fields)
