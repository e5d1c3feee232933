from django import forms
from django.contrib.auth.forms import UserCreationForm

from .models import Invitation


class WorkspaceForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True)


class MemberAddForm(forms.Form):
    username_or_email = forms.CharField(max_length=254, strip=True, label="Username or e-mail")


class InvitationForm(forms.Form):
    valid_for_days = forms.IntegerField(
        min_value=1,
        max_value=90,
        initial=Invitation.DEFAULT_VALID_FOR.days,
        label="Valid for (days)",
    )
    max_uses = forms.IntegerField(
        min_value=1, required=False, label="Uses", help_text="Empty: any number of people."
    )


class SignupForm(UserCreationForm):
    """A username, an optional e-mail and a password checked by AUTH_PASSWORD_VALIDATORS."""

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")
