from pathlib import Path

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from .gguf import GgufInfo
from .models import LanguageModel
from .services import language_model_check, language_model_facts_apply, language_model_inspect


class LanguageModelForm(forms.ModelForm):
    """Refuses a file that cannot serve, saying why (missing, not GGUF, too big)."""

    inspected: GgufInfo | None = None

    class Meta:
        model = LanguageModel
        fields = ["name", "path", "enabled", "n_ctx", "n_gpu_layers", "n_threads"]

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        path, n_ctx = data.get("path"), data.get("n_ctx")
        if isinstance(path, str) and isinstance(n_ctx, int):
            try:
                self.inspected = language_model_inspect(path=Path(path), n_ctx=n_ctx)
            except ValidationError as exc:
                self.add_error("path", exc)
        return data


@admin.register(LanguageModel)
class LanguageModelAdmin(admin.ModelAdmin):
    form = LanguageModelForm
    list_display = [
        "name",
        "enabled",
        "available",
        "unavailable_reason",
        "queue",
        "source",
        "n_ctx",
        "n_gpu_layers",
        "n_threads",
        "has_chat_template",
        "checked_at",
    ]
    list_filter = ["enabled", "available", "source", "has_chat_template"]
    search_fields = ["name", "path"]
    readonly_fields = [
        "queue",
        "source",
        "available",
        "unavailable_reason",
        "has_chat_template",
        "size_bytes",
        "checked_at",
    ]
    actions = ["check_files"]

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
