"""Recognising mentions (``@handle``) in a message: of assistants, members, or nobody known."""

import re
from collections.abc import Callable
from html import escape, unescape
from typing import TypedDict

from django.conf import settings

# "@" not inside a word or an address (me@example.com), then the handle; a handle ends where
# its characters do, so "@scribe," and "@scribe." mention scribe, "@scribe-bot" does not.
_MENTION = re.compile(r"(?<![\w@])@([\w-]+)")


def mentioned_handles(body: str) -> list[str]:
    """The handles mentioned in ``body``, lowercased, in the order first mentioned."""
    return list(dict.fromkeys(match.lower() for match in _MENTION.findall(body)))


def default_handle() -> str:
    """The handle of the installation's default assistant (``ASSISTANT_NAME``)."""
    return settings.ASSISTANT_NAME.lower()


def trailing_mention(text: str) -> str | None:
    """The handle being typed at the end of ``text`` ("… @scr" gives "scr", "… @" gives "")."""
    match = re.search(r"(?<![\w@])@([\w-]*)\Z", text)
    return match.group(1).lower() if match else None


class PersonMention(TypedDict):
    """A member of the workspace that a message mentions: shown as a link to them."""

    id: int
    username: str


# Where a mention may be linked in rendered HTML: the text between tags, outside code and links.
_TAG = re.compile(r"(<[^>]*>)")
_UNLINKED_IN = ("code", "pre", "a")


def mentions_linked(html: str, people: list[PersonMention], *, href: Callable[[int], str]) -> str:
    """``html`` (sanitized, so made of our tags and escaped text) with each ``@username`` of
    ``people`` a link to that person (``href(id)``); other ``@`` words stay text, and nothing
    in code or inside a link is touched. Only a username and an id from the server are written,
    both escaped: the text's own characters never become attributes."""
    if not people:
        return html
    by_name = {person["username"].lower(): person for person in people}
    # Longest first, so "@bob.smith" is linked as bob.smith, not as bob.
    names = sorted(by_name, key=len, reverse=True)
    pattern = re.compile(
        r"(?<![\w@])@(" + "|".join(re.escape(escape(name)) for name in names) + r")(?![\w-])",
        re.IGNORECASE,
    )

    def link(match: re.Match[str]) -> str:
        person = by_name[unescape(match.group(1)).lower()]
        return (
            f'<a class="mention" href="{escape(href(person["id"]))}">'
            f"@{escape(person['username'])}</a>"
        )

    parts = _TAG.split(html)
    inside = 0  # how many code, pre or a elements are open here
    for index, part in enumerate(parts):
        if index % 2:  # a tag
            name = part.strip("</>").split(" ", 1)[0].lower()
            if name in _UNLINKED_IN and not part.endswith("/>"):
                inside += -1 if part.startswith("</") else 1
        elif inside == 0 and "@" in part:
            parts[index] = pattern.sub(link, part)
    return "".join(parts)
