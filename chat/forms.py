from collections.abc import Mapping
from typing import Any, TypedDict, cast

from django import forms
from django.conf import settings

from .models import ASSISTANT_FIELDS, Assistant, Thread
from .selectors import thread_source_choices

# How the "who answers" choice names the default assistant (assistants go by their id).
DEFAULT_ANSWERER = "default"


class ThreadForm(forms.Form):
    title = forms.CharField(max_length=200, strip=True)


class AssistantForm(forms.ModelForm):
    """An assistant's fields, as members edit them. The services check what depends on the
    workspace (the handle is free: not the default's, a member's or another assistant's)."""

    class Meta:
        model = Assistant
        fields = ASSISTANT_FIELDS
        widgets = {
            "colour": forms.TextInput(attrs={"type": "color"}),
            "system_prompt": forms.Textarea(attrs={"rows": 4}),
            "temperature": forms.NumberInput(attrs={"step": "0.05", "min": "0", "max": "2"}),
        }


class ThreadSettings(TypedDict):
    """A thread's settings, as ``services.thread_settings_update`` takes them."""

    answers_unaddressed: bool
    answerer: Assistant | None
    system_prompt_override: str
    temperature_override: float | None
    max_tokens_override: int | None
    sources_use: str | None
    chosen_source_ids: list[int] | None


class ThreadSettingsForm(forms.Form):
    """A thread's settings, as members edit them; empty fields leave the assistant's own."""

    # Not required: its first choice, "nobody", is the empty value.
    answerer = forms.ChoiceField(
        label="Messages that mention nobody are answered by", required=False
    )
    system_prompt_override = forms.CharField(
        label="Instructions for this thread",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Empty: each assistant's own.",
    )
    temperature_override = forms.FloatField(
        label="Temperature", required=False, min_value=0.0, max_value=2.0
    )
    max_tokens_override = forms.IntegerField(
        label="Longest answer (tokens)", required=False, min_value=1, max_value=8192
    )
    sources_use = forms.ChoiceField(
        label="Answers may read and cite", choices=Thread.SourcesUse.choices, required=False
    )
    chosen_sources = forms.TypedMultipleChoiceField(
        label="Chosen sources",
        required=False,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        help_text="Read only when answers may use the sources chosen here.",
    )

    def __init__(self, data: Mapping[str, Any] | None = None, *, thread: Thread) -> None:
        answerer = DEFAULT_ANSWERER if thread.answerer_id is None else str(thread.answerer_id)
        initial = {
            "answerer": answerer if thread.answers_unaddressed else "",
            "system_prompt_override": thread.system_prompt_override,
            "temperature_override": thread.temperature_override,
            "max_tokens_override": thread.max_tokens_override,
            "sources_use": thread.sources_use,
            "chosen_sources": list(thread.chosen_sources.values_list("pk", flat=True)),
        }
        super().__init__(data, initial=initial)
        cast(forms.TypedMultipleChoiceField, self.fields["chosen_sources"]).choices = [
            (source.pk, str(source)) for source in thread_source_choices(thread)
        ]
        self.assistants = {str(a.pk): a for a in thread.workspace.assistants.all()}
        cast(forms.ChoiceField, self.fields["answerer"]).choices = [
            ("", "nobody"),
            (DEFAULT_ANSWERER, f"@{settings.ASSISTANT_NAME}"),
            *((pk, f"@{a.handle} ({a.display_name})") for pk, a in self.assistants.items()),
        ]

    def settings(self) -> ThreadSettings:
        """The cleaned values as ``services.thread_settings_update`` takes them."""
        data = self.cleaned_data
        chosen = data["answerer"]
        return {
            "answers_unaddressed": bool(chosen),
            "answerer": self.assistants.get(chosen),
            "system_prompt_override": data["system_prompt_override"],
            "temperature_override": data["temperature_override"],
            "max_tokens_override": data["max_tokens_override"],
            # Not sent (an older page): left as they are.
            "sources_use": data["sources_use"] or None,
            "chosen_source_ids": data["chosen_sources"] if data["sources_use"] else None,
        }
