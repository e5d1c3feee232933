from django import forms
from django.contrib.auth.models import User

from workspace.models import Workspace
from workspace.selectors import workspace_list_for_user


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True, label="Name")
    workspace = forms.ModelChoiceField(
        queryset=Workspace.objects.none(),
        required=False,
        empty_label="All my workspaces",
        label="Workspace",
    )
    read_only = forms.BooleanField(required=False, label="Read-only")

    def __init__(self, *args: object, user: User, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        workspace_field = self.fields["workspace"]
        assert isinstance(workspace_field, forms.ModelChoiceField)
        workspace_field.queryset = workspace_list_for_user(user=user)
