"""Markdown to HTML that is safe to put in the page, for people's and the model's text.

The parser is markdown-it-pyrs (markdown-it in Rust): a streaming answer is rendered whole on
every frame, and the pure-Python markdown-it-py took milliseconds per frame for long answers,
time the model's worker did not spend generating (bench/README.md). Its raw-HTML rules are left
out, so any HTML in the source is shown as text; nh3 (the Ammonia sanitizer) then keeps only
plain formatting tags and link targets, so no ``id``, ``hx-*``, ``on*`` or ``style`` attribute
and no script can reach the page, whoever wrote the text.

Code blocks are highlighted by Pygments, with classes only (the page's CSP allows no inline
style; ``static/css/code.css`` colours the classes, see ``code_stylesheet``), before
sanitizing: the sanitizer keeps a ``span``'s class only when it is one of Pygments' token
classes. After sanitizing, each block gets a Copy button (``static/js/roundtable.js``).
"""

import html
import re
from functools import lru_cache

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it_pyrs import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

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
    "span",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
# Pygments' short token classes ("k" for a keyword...): the only classes text may carry.
HIGHLIGHT_CLASSES = frozenset(name for name in STANDARD_TYPES.values() if name)

# Where ``chat.citations`` marks an answer's [n] while it is rendered: private-use characters.
# Code shows a marker as it was written, never as a link.
CITATION_OPEN, CITATION_CLOSE = "\ue000", "\ue001"

# A code block as markdown-it writes it (its text escaped, so it holds no "</code>"); the
# language is the first word after the opening ``` fence.
_CODE_BLOCK = re.compile(r'<pre><code(?: class="language-([^"]*)")?>(.*?)</code></pre>', re.DOTALL)
_SANITIZED_BLOCK = re.compile(r"<pre>(.*?)</pre>", re.DOTALL)
_FORMATTER = HtmlFormatter(nowrap=True)  # spans with classes; no inline styles
COPY_BUTTON = '<button type="button" class="copy" title="Copy the code">Copy</button>'


def markdown_to_html(text: str) -> SafeString:
    html_text = _CODE_BLOCK.sub(_code_block_highlighted, _markdown.render(text))
    clean = nh3.clean(
        html_text,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        allowed_classes={"span": set(HIGHLIGHT_CLASSES)},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    # Only markdown-it writes <pre> (text's own HTML is escaped): each is a code block.
    with_buttons = _SANITIZED_BLOCK.sub(
        lambda block: f'<div class="code-block">{COPY_BUTTON}{block.group(0)}</div>', clean
    )
    return mark_safe(with_buttons)  # noqa: S308 - sanitized just above, our own tags added


def _code_block_highlighted(block: re.Match[str]) -> str:
    language = html.unescape(block.group(1) or "")
    code = html.unescape(block.group(2))
    code = re.sub(f"{CITATION_OPEN}(\\d+){CITATION_CLOSE}", r"[\1]", code)
    return f"<pre><code>{code_highlighted(language, code)}</code></pre>"


@lru_cache(maxsize=256)  # a streaming answer renders its finished blocks again on every frame
def code_highlighted(language: str, code: str) -> str:
    """``code`` as escaped HTML, its tokens in spans with Pygments' classes when the language
    is one Pygments knows; else only escaped."""
    try:
        lexer = get_lexer_by_name(language, stripnl=False) if language else None
    except ClassNotFound:
        lexer = None
    if lexer is None:
        return html.escape(code, quote=False)
    return str(highlight(code, lexer, _FORMATTER))
