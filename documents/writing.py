"""The assistant as a co-author: where it writes in the CRDT, and what it is asked to write.

``CoAuthor`` is the assistant's pen. It holds the document as it was when the write began and
inserts each piece of text after the previous one, as Yjs edits: each becomes an update that
every editor merges like a person's typing, so people can keep writing elsewhere (or even at
the same spot) and nothing anyone writes is lost. Positions are Yjs relative positions, which
follow the text they point at whatever was typed before them meanwhile.

pycrdt 0.14's sticky indexes mix UTF-8 bytes (pycrdt's text offsets) and UTF-16 units (Yjs's
clocks): past a character outside ASCII they name the wrong item, or none, and pycrdt panics.
So a position is read through ``crdt.position_offset``, and the assistant's cursor is made by
hand: after the last character it wrote, whose clock its own Yjs client knows.
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from pycrdt import Text

from chat.models import Thread

from .crdt import TEXT_NAME, doc_from, position_offset
from .protocol import state_vector_read

# How much of the document around the cursor the model reads (characters, each side).
CONTEXT_CHARS = 1500
CURSOR = "<<CURSOR>>"


def position_check(position: Any) -> dict[str, Any]:
    """A relative position as the editor sends it (``Y.relativePositionToJSON``), checked.

    Raises ValueError for anything else: pycrdt would panic on an unknown item.
    """
    if not isinstance(position, dict) or not set(position) <= {"type", "tname", "item", "assoc"}:
        raise ValueError("A position is an object with item, tname and assoc.")
    if position.get("type") is not None:
        raise ValueError("Positions inside nested types are not supported.")
    item = position.get("item")
    if item is not None and not (
        isinstance(item, dict)
        and set(item) == {"client", "clock"}
        and all(isinstance(item[key], int) and item[key] >= 0 for key in item)
    ):
        raise ValueError("A position's item is {client, clock}.")
    if item is None and position.get("tname") != TEXT_NAME:
        raise ValueError("A position names the document's text.")
    if not isinstance(position.get("assoc", 0), int):
        raise ValueError("A position's assoc is a number.")
    return {key: value for key, value in position.items() if value is not None}


class CoAuthor:
    """Writes into one document from one place, as one more editor (its own Yjs client)."""

    def __init__(self, state: bytes, *, anchor: dict[str, Any] | None, head: dict[str, Any] | None):
        self.doc = doc_from(state)
        self.text: Text = self.doc.get(TEXT_NAME, type=Text)
        content = str(self.text)
        start = self._offset(anchor, default=len(content.encode()))
        end = self._offset(head, default=start) if anchor is not None else start
        # The cursor until something is written: where the write begins (by default the end).
        self._start_position = (anchor if start <= end else head) or {
            "tname": TEXT_NAME,
            "assoc": 0,
        }
        start, end = min(start, end), max(start, end)
        encoded = content.encode()
        self.before = encoded[:start].decode(errors="ignore")
        self.selected = encoded[start:end].decode(errors="ignore")
        self.after = encoded[end:].decode(errors="ignore")
        self._start_state = self.doc.get_state()
        if end > start:
            del self.text[start:end]
        self._at = start  # where the next piece goes: this doc changes by these writes alone

    def _offset(self, position: dict[str, Any] | None, *, default: int) -> int:
        if position is None:
            return default
        item = position.get("item")
        if item is not None:
            known = state_vector_read(self.doc.get_state())
            if item["clock"] >= known.get(item["client"], 0):
                raise ValueError("That position is in text the server has not seen.")
        return position_offset(self.doc, position)

    def opening_update(self) -> bytes | None:
        """The selection's deletion, if there was one: the first change of the write."""
        return self.doc.get_update(self._start_state) if self.selected else None

    def write(self, piece: str) -> bytes:
        """Insert ``piece`` after what was written so far; the update that does it."""
        state = self.doc.get_state()
        self.text.insert(self._at, piece)
        self._at += len(piece.encode())
        return self.doc.get_update(state)

    @property
    def client_id(self) -> int:
        return int(self.doc.client_id)

    def cursor_json(self) -> dict[str, Any]:
        """Where the assistant's cursor is, as editors read a remote cursor: a relative
        position after the last character it wrote (Yjs's JSON form)."""
        written = state_vector_read(self.doc.get_state()).get(self.client_id, 0)
        if not written:
            return dict(self._start_position)
        return {"item": {"client": self.client_id, "clock": written - 1}, "assoc": -1}


def thread_transcript_text(*, thread: Thread, limit: int = 50) -> str:
    """The thread's newest messages as "speaker: text" lines, for a draft made from it."""
    messages = (
        thread.messages.filter(deleted_at__isnull=True)
        .select_related("author")
        .order_by("-created_at", "-id")[:limit]
    )
    return "\n".join(f"{message.speaker_name}: {message.body}" for message in reversed(messages))


@dataclass(frozen=True)
class WriteBrief:
    system: str
    prompt: str
    max_tokens: int


def write_brief(
    *, instruction: str, requester: str, author: CoAuthor, thread_transcript: str = ""
) -> WriteBrief:
    """What the model reads for a write: the document around the cursor, and the request."""
    name = settings.ASSISTANT_NAME
    system = (
        f"You are {name}, co-author of a team's Markdown document. What you reply is inserted "
        f"into the document at {CURSOR}: reply with that text only, without any preamble, "
        "explanation or quotation marks."
    )
    before, after = author.before[-CONTEXT_CHARS:], author.after[:CONTEXT_CHARS]
    parts = []
    if thread_transcript:
        parts.append(f"The team's conversation:\n{thread_transcript}")
    if author.selected:
        parts.append(
            f"The document, where {CURSOR} replaces this passage:\n{author.selected}\n\n"
            f"{before}{CURSOR}{after}"
        )
    else:
        parts.append(f"The document:\n{before}{CURSOR}{after}")
    parts.append(f"{requester} asks: {instruction}")
    return WriteBrief(system=system, prompt="\n\n".join(parts), max_tokens=settings.LLM_MAX_TOKENS)
