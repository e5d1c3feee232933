from django import template
from django.utils.safestring import SafeString

from chat.citations import markdown_with_citations
from chat.markdown import markdown_to_html
from chat.models import Message

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    return markdown_to_html(text)


@register.filter(name="message_markdown")
def message_markdown_filter(message: Message) -> SafeString:
    """A message's body as safe HTML; an answer's ``[n]`` link to the sources it was given."""
    if not message.is_assistant:
        return markdown_to_html(message.body)
    run = message.generation_or_none
    return markdown_with_citations(
        message.body, sources=len(run.sources) if run else 0, message_dom_id=message.dom_id
    )
