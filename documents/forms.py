from django import forms


class DocumentTitleForm(forms.Form):
    title = forms.CharField(max_length=200, strip=True)


class VersionForm(forms.Form):
    name = forms.CharField(max_length=200, strip=True, label="Version name")
