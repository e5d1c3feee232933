from django import forms


class WorkspaceForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True)


class MemberAddForm(forms.Form):
    username_or_email = forms.CharField(max_length=254, strip=True, label="Username or e-mail")
