"""An answer's citations: the sources it was given, numbered, and its ``[n]`` markers.

The model worker numbers the passages it gives the model from 1 (``AnswerSource``); the model
cites them as ``[1]``, ``[2]``. The server, never the model, maps each marker to its passage:
a marker within the numbers given links to that passage's entry under the answer, and any
other is shown as unbacked, never linked to a source it does not name. A catch-up summary
cites the thread's messages it was given the same way (``markdown_with_markers``).
"""

import re
from collections.abc import Callable
from typing import TypedDict

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from .markdown import CITATION_CLOSE, CITATION_OPEN, markdown_to_html

# [n] as the model writes it; not a Markdown link's text ("[1](…)") or reference ("[1]:").
MARKER = re.compile(r"\[(\d{1,3})\](?![(:])")
# Where a marker stood, through Markdown rendering and sanitizing: private-use characters,
# which neither touches (code blocks show the marker as written).
_PLACEHOLDER = re.compile(f"{CITATION_OPEN}(\\d{{1,3}}){CITATION_CLOSE}")


class AnswerSource(TypedDict):
    """One numbered passage an answer was given, as stored on its ``Generation``."""

    number: int
    source_id: int
    chunk_id: int
    title: str
    locator: str  # where in the source: "page 3", "rows 10-20", a heading
    url: str  # the passage shown in its source, highlighted
    cited: bool  # the answer's text cites it


def cited_numbers(text: str) -> set[int]:
    return {int(number) for number in MARKER.findall(text)}


def sources_mark_cited(sources: list[AnswerSource], text: str) -> list[AnswerSource]:
    """``sources`` with ``cited`` set from the answer's final ``text``."""
    cited = cited_numbers(text)
    return [{**source, "cited": source["number"] in cited} for source in sources]


def source_anchor(message_dom_id: str, number: int) -> str:
    return f"{message_dom_id}-source-{number}"


def markdown_with_citations(text: str, *, sources: int, message_dom_id: str) -> SafeString:
    """The answer as safe HTML, each ``[n]`` a link to source n of the ``sources`` it was
    given, or marked unbacked when it names none of them."""
    return markdown_with_markers(
        text,
        href=lambda n: f"#{source_anchor(message_dom_id, n)}" if 1 <= n <= sources else None,
        unbacked="No source given to the assistant has this number",
    )


def markdown_with_markers(
    text: str, *, href: Callable[[int], str | None], unbacked: str
) -> SafeString:
    """``text`` as safe HTML, each ``[n]`` a link to ``href(n)``; where that is None (the
    number names nothing the model was given), struck through as unbacked, never linked,
    with ``unbacked`` saying why."""
    text = text.replace(CITATION_OPEN, "").replace(CITATION_CLOSE, "")  # only ours mark markers
    marked = MARKER.sub(lambda match: f"{CITATION_OPEN}{match.group(1)}{CITATION_CLOSE}", text)
    html = markdown_to_html(marked)

    def marker_html(match: re.Match[str]) -> str:
        number = int(match.group(1))
        if (link := href(number)) is not None:
            return format_html('<a class="cite" href="{}">[{}]</a>', link, number)
        return format_html('<span class="cite unbacked" title="{}">[{}]</span>', unbacked, number)

    return mark_safe(_PLACEHOLDER.sub(marker_html, html))  # noqa: S308 - our own tags only
