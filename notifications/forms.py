from django import forms

from .models import NotificationSettings


class NotificationSettingsForm(forms.Form):
    level = forms.ChoiceField(
        choices=NotificationSettings.Level.choices,
        widget=forms.RadioSelect,
        label="Notify me of",
    )
