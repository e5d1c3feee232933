from django import forms

from .models import Assistant


class ThreadForm(forms.Form):
    title = forms.CharField(max_length=200, strip=True)


class AssistantForm(forms.ModelForm):
    """An assistant's fields, as members edit them. The services check what depends on the
    workspace (the handle is free: not the default's, a member's or another assistant's)."""

    class Meta:
        model = Assistant
        fields = [
            "handle",
            "display_name",
            "colour",
            "model",
            "system_prompt",
            "temperature",
            "max_tokens",
        ]
        widgets = {
            "colour": forms.TextInput(attrs={"type": "color"}),
            "system_prompt": forms.Textarea(attrs={"rows": 4}),
            "temperature": forms.NumberInput(attrs={"step": "0.05", "min": "0", "max": "2"}),
        }
