"""Recognising mentions (``@handle``) in a message: of assistants, members, or nobody known."""

import re

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


def mentions_assistant(body: str) -> bool:
    """Whether ``body`` mentions the installation's default assistant."""
    return default_handle() in mentioned_handles(body)


def trailing_mention(text: str) -> str | None:
    """The handle being typed at the end of ``text`` ("… @scr" gives "scr", "… @" gives "")."""
    match = re.search(r"(?<![\w@])@([\w-]*)\Z", text)
    return match.group(1).lower() if match else None
