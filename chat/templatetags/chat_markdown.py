from django import template
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from chat.citations import markdown_with_citations
from chat.markdown import markdown_to_html
from chat.mentions import mentions_linked
from chat.models import Message
from chat.selectors import messages_mentions_resolve

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    return markdown_to_html(text)


@register.filter(name="message_markdown")
def message_markdown_filter(message: Message) -> SafeString:
    """A message's body as safe HTML: a person's ``@member`` links to that member, an
    answer's ``[n]`` to the sources it was given."""
    if not message.is_assistant:
        if message.mentioned is None:  # read alone, not through a page or an event
            messages_mentions_resolve([message], workspace_id=message.thread.workspace_id)
        html = markdown_to_html(message.body)
        linked = mentions_linked(html, message.mentioned or [], href=_person_url)
        return mark_safe(linked)  # noqa: S308 - sanitized, with our own links added
    run = message.generation_or_none
    return markdown_with_citations(
        message.body, sources=len(run.sources) if run else 0, message_dom_id=message.dom_id
    )


def _person_url(user_id: int) -> str:
    return reverse("person-detail", args=[user_id])
