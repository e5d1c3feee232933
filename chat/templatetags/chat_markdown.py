from django import template
from django.utils.safestring import SafeString

from chat.markdown import markdown_to_html

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    return markdown_to_html(text)
