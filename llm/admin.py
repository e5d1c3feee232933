from pathlib import Path

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from .gguf import GgufInfo
from .model import default_slots, model_spec_from_settings
from .models import LanguageModel
from .routing import DEFAULT_QUEUE
from .services import (
    file_identity,
    language_model_check,
    language_model_facts_apply,
    language_model_inspect,
)


def _is_default_model_file(path: Path) -> bool:
    try:
        default = model_spec_from_settings().path
    except FileNotFoundError:  # no default model installed
        return False
    return file_identity(path) == file_identity(default)


class LanguageModelForm(forms.ModelForm):
    """Refuses a file that cannot serve, saying why (missing, not GGUF, too big)."""

    inspected: GgufInfo | None = None

    class Meta:
        model = LanguageModel
        fields = ["name", "path", "enabled", "n_ctx", "slots", "n_gpu_layers", "n_threads"]

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        path, n_ctx = data.get("path"), data.get("n_ctx")
        if isinstance(path, str) and isinstance(n_ctx, int):
            slots = int(data.get("slots") or 0) or default_slots(
                n_gpu_layers=int(data.get("n_gpu_layers") or 0)
            )
            try:
                self.inspected = language_model_inspect(path=Path(path), n_ctx=n_ctx, slots=slots)
            except ValidationError as exc:
                self.add_error("path", exc)
        return data


@admin.register(LanguageModel)
class LanguageModelAdmin(admin.ModelAdmin):
    form = LanguageModelForm
    # Few columns, so that the list fits a laptop's screen; the rest is on each model's page.
    list_display = ["name", "enabled", "serving", "queues", "source", "context_per_answer"]
    list_filter = ["enabled", "available", "source", "has_chat_template"]
    search_fields = ["name", "path"]
    readonly_fields = [
        "queues",
        "context_per_answer",
        "source",
        "available",
        "unavailable_reason",
        "has_chat_template",
        "size_bytes",
        "checked_at",
    ]
    actions = ["check_files"]

    @admin.display(description="serving", ordering="available")
    def serving(self, obj: LanguageModel) -> str:
        return "available" if obj.available else f"unavailable: {obj.unavailable_reason}"

    @admin.display(description="queues")
    def queues(self, obj: LanguageModel) -> str:
        """Its own queue; the file of the installation's default model (LLM_MODEL_PATH, the
        default assistant's) also serves the default queue, on the same worker."""
        if obj.pk is None:
            return "-"
        if _is_default_model_file(obj.file):
            return f"{DEFAULT_QUEUE} (the default model), {obj.queue}"
        return obj.queue

    @admin.display(description="context per answer")
    def context_per_answer(self, obj: LanguageModel) -> str:
        """What each of the answers decoded together may hold (the memory holds them all)."""
        return f"{obj.n_ctx:,} tokens × {obj.answers_at_once} answers at once"

    def save_model(
        self, request: HttpRequest, obj: LanguageModel, form: LanguageModelForm, change: bool
    ) -> None:
        if form.inspected is not None:
            language_model_facts_apply(model=obj, info=form.inspected)
        super().save_model(request, obj, form, change)

    @admin.action(description="Check the files again")
    def check_files(self, request: HttpRequest, queryset: QuerySet[LanguageModel]) -> None:
        for model in queryset:
            if language_model_check(model=model):
                self.message_user(request, f"{model.name}: available.")
            else:
                self.message_user(
                    request, f"{model.name}: {model.unavailable_reason}", messages.WARNING
                )
