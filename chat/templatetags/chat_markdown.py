from django import template
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from chat.citations import markdown_with_citations
from chat.markdown import markdown_to_html
from chat.mentions import mentions_linked
from chat.message_read import MessageRead

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    return markdown_to_html(text)


@register.filter(name="message_markdown")
def message_markdown_filter(message: MessageRead) -> SafeString:
    """A message's body as safe HTML: a person's ``@member`` links to that member, an
    answer's ``[n]`` to the sources it was given."""
    if not message.is_assistant:
        html = markdown_to_html(message.body)
        linked = mentions_linked(html, message.mentions, href=_person_url)
        return mark_safe(linked)  # noqa: S308 - sanitized, with our own links added
    return markdown_with_citations(
        message.body, sources=len(message.sources), message_dom_id=message.dom_id
    )


def _person_url(user_id: int) -> str:
    return reverse("person-detail", args=[user_id])
