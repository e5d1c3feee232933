from django import forms


class ThreadForm(forms.Form):
    title = forms.CharField(max_length=200, strip=True)
