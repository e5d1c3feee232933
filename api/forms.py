from datetime import timedelta

from django import forms
from django.contrib.auth.models import User

from workspace.models import Workspace
from workspace.selectors import workspace_list_for_user

from .models import TOKEN_LIFETIME_CHOICE_DEFAULT, TOKEN_LIFETIMES

NEVER_WARNING = (
    "A token that never expires works until you revoke it, even if it leaks or is forgotten "
    "in an old script: choose an expiry unless a tool truly needs it for ever."
)


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True, label="Name")
    workspace = forms.ModelChoiceField(
        queryset=Workspace.objects.none(),
        required=False,
        empty_label="All my workspaces",
        label="Workspace",
    )
    read_only = forms.BooleanField(required=False, label="Read-only")
    # Not required: a form from a page loaded before expiry existed gets the default.
    lifetime = forms.ChoiceField(
        choices=[(choice, label) for choice, (label, _) in TOKEN_LIFETIMES.items()],
        initial=TOKEN_LIFETIME_CHOICE_DEFAULT,
        required=False,
        label="Expires after",
        error_messages={
            "invalid_choice": "Choose when the token expires: "
            + ", ".join(label for label, _ in TOKEN_LIFETIMES.values())
            + ".",
        },
    )

    def __init__(self, *args: object, user: User, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        workspace_field = self.fields["workspace"]
        assert isinstance(workspace_field, forms.ModelChoiceField)
        workspace_field.queryset = workspace_list_for_user(user=user)

    def clean_lifetime(self) -> timedelta | None:
        return TOKEN_LIFETIMES[self.cleaned_data["lifetime"] or TOKEN_LIFETIME_CHOICE_DEFAULT][1]
