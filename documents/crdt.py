"""The document's CRDT state as bytes: what the server does with Yjs updates (via pycrdt).

The server never turns text back into CRDT history (other projects duplicated content that
way): states are only ever merged from the updates editors sent, and the one change the server
makes itself (restoring a version) is made as edits on the current state.

pycrdt counts a text's offsets in UTF-8 bytes, and an embed as one, while ``str(text)`` leaves
embeds out: offsets are computed from the text only once it holds nothing else.
"""

from difflib import SequenceMatcher
from typing import Any

from pycrdt import Array, Doc, Map, StickyIndex, Text

from .protocol import ProtocolError, deletion_update
from .update_shape import update_plain_text_check

# The shared text's name in every editor's Y.Doc (static/src/document-editor.js).
TEXT_NAME = "content"
EMPTY_UPDATE = b"\x00\x00"


class MalformedUpdate(ValueError):
    """Bytes that are not a Yjs update."""


MALFORMED = "That change could not be read (malformed update)."


def doc_from(*updates: bytes) -> Doc:
    doc: Doc = Doc()
    doc.get(TEXT_NAME, type=Text)
    for update in updates:
        if update and update != EMPTY_UPDATE:
            doc.apply_update(update)
    return doc


def state_merge(*updates: bytes) -> bytes:
    """One update equivalent to all of them, compact (Doc-based: ~10x faster than merging
    the raw updates for a log of single-keystroke updates)."""
    return doc_from(*updates).get_update()


def text_of(doc: Doc) -> str:
    return str(doc.get(TEXT_NAME, type=Text))


def position_offset(doc: Doc, position: dict[str, Any]) -> int:
    """Where a relative position (Yjs's JSON form, checked) is in ``doc``'s text, in UTF-8
    bytes as pycrdt counts.

    pycrdt 0.14's ``StickyIndex`` adds UTF-8 bytes to UTF-16 units past a character outside
    ASCII, so the character a position names is found by deleting it in a copy of the document
    and seeing which one went. With no item, the position is the text's end (``assoc`` 0 or
    more) or its start, as Yjs reads it.
    """
    content = text_of(doc)
    item, before_item = position.get("item"), position.get("assoc", 0) >= 0
    if item is None:
        return len(content.encode()) if before_item else 0
    copy = doc_from(doc.get_update())
    copy.apply_update(deletion_update(item["client"], item["clock"]))
    left = text_of(copy)
    if left == content:  # deleted already: where pycrdt puts it, on a character's boundary
        offset = StickyIndex.from_json(position, doc.get(TEXT_NAME, type=Text)).get_index()
        return len(content.encode()[:offset].decode(errors="ignore").encode())
    pairs = enumerate(zip(content, left, strict=False))
    index = next((i for i, (was, now) in pairs if was != now), len(left))
    return len(content[: index if before_item else index + 1].encode())


def update_check(update: bytes) -> None:
    """Raise MalformedUpdate unless ``update`` decodes as a Yjs update, and NotPlainText
    unless all it inserts is text in the document's text."""
    try:
        Doc().apply_update(update)
    except Exception as exc:  # pycrdt raises ValueError, and Rust panics as other types
        raise MalformedUpdate(MALFORMED) from exc
    try:
        update_plain_text_check(update, text_name=TEXT_NAME)
    except ProtocolError as exc:
        raise MalformedUpdate(MALFORMED) from exc


def update_missing(state: bytes, state_vector: bytes) -> bytes:
    """What a peer whose state vector is ``state_vector`` lacks of ``state``."""
    return doc_from(state).get_update(state_vector)


def text_replace_update(state: bytes, target: str) -> bytes:
    """The update that turns the text of ``state`` into ``target`` by edits (restoring a version).

    Line by line: unchanged lines keep their CRDT items (and so everyone's cursors and
    concurrent edits around them); changed runs of lines are deleted and inserted. What editors
    put in before anything but text was refused goes too (embeds, ``strays_removal``): the
    result is text alone.
    """
    doc = doc_from(state)
    before = doc.get_state()
    for removal in strays_removal(state):
        doc.apply_update(removal)
    text = doc.get(TEXT_NAME, type=Text)
    with doc.transaction():
        embeds_remove(text)
        current_lines = str(text).splitlines(keepends=True)
        target_lines = target.splitlines(keepends=True)
        starts = [0]  # of each line, in UTF-8 bytes: pycrdt's text offsets
        for line in current_lines:
            starts.append(starts[-1] + len(line.encode()))
        opcodes = SequenceMatcher(None, current_lines, target_lines, autojunk=False).get_opcodes()
        for tag, i1, i2, j1, j2 in reversed(opcodes):  # from the end: offsets stay valid
            if tag == "equal":
                continue
            if i2 > i1:
                del text[starts[i1] : starts[i2]]
            if j2 > j1:
                text.insert(starts[i1], "".join(target_lines[j1:j2]))
    return doc.get_update(before)


def embeds_remove(text: Text) -> None:
    """Delete every embed from ``text`` (in the caller's transaction): afterwards the offsets
    of ``str(text)`` are the CRDT's. Formatting marks stay: they take no room in the text."""
    at, embeds = 0, []
    for content, _attributes in text.diff():
        if isinstance(content, str):
            at += len(content.encode())
        else:
            embeds.append(at)
            at += 1
    for at in reversed(embeds):  # from the end: offsets stay valid
        del text[at : at + 1]


def strays_removal(state: bytes) -> list[bytes]:
    """Updates that delete what editors could put into a document before anything but text
    was refused, and ``str(text)`` never shows: map entries under the text's name, and
    whatever is under any other top-level name.

    A root's type is only fixed when it is read, so a document read afresh can read each
    root as a map (to delete its entries) or as an array (to delete its items, whatever they
    hold); the text's own items are left alone.
    """
    roots: Doc = Doc()
    roots.apply_update(state)
    others = [name for name in roots.keys() if name != TEXT_NAME]  # noqa: SIM118 - a Doc, not a dict
    clearings = [(TEXT_NAME, Map)] + [(name, kind) for name in others for kind in (Map, Array)]
    return [removal for name, kind in clearings if (removal := _cleared(state, name, kind))]


def _cleared(state: bytes, name: str, kind: type[Map] | type[Array]) -> bytes | None:
    doc: Doc = Doc()
    doc.apply_update(state)
    shared = doc.get(name, type=kind)
    if not len(shared):
        return None
    before = doc.get_state()
    with doc.transaction():
        shared.clear()
    return doc.get_update(before)
