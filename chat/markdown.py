"""Markdown to HTML that is safe to put in the page, for people's and the model's text.

The parser is markdown-it-pyrs (markdown-it in Rust): a streaming answer is rendered whole on
every frame, and the pure-Python markdown-it-py took milliseconds per frame for long answers,
time the model's worker did not spend generating (bench/README.md). Its raw-HTML rules are left
out, so any HTML in the source is shown as text; nh3 (the Ammonia sanitizer) then keeps only
plain formatting tags and link targets, so no ``id``, ``hx-*``, ``on*`` or ``style`` attribute
and no script can reach the page, whoever wrote the text.
"""

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it_pyrs import MarkdownIt

# CommonMark without its two raw-HTML rules (html_block, html_inline), plus tables and ~~strike~~.
_markdown = MarkdownIt("zero").enable_many(
    [
        "blockquote", "code", "fence", "heading", "hr", "lheading", "list", "paragraph",
        "reference", "autolink", "backticks", "emphasis", "entity", "escape", "image", "link",
        "newline", "table", "strikethrough",
    ]
)  # fmt: skip

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "a", "table", "thead", "tbody", "tr", "th", "td", "s",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}


def markdown_to_html(text: str) -> SafeString:
    html = _markdown.render(text)
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(clean)  # noqa: S308 - sanitized just above
