"""Whether a Yjs update keeps the document plain text, read from the update's own bytes.

A document is one shared text (``crdt.TEXT_NAME``) of Markdown: the server reads it as a
string, replaces and restores it by offsets, and the editor shows nothing else. Yjs lets a
client put much more into a document (embeds and formatting marks in the text, map entries
under the text's name, other top-level types), which ``str(text)`` hides while the CRDT still
counts it. So every item an editor's update inserts must be a string in that text.

The update is read alone, without the document's state: the socket checks each keystroke
before publishing it and does not load the document for that (``documents.update_log``). That
suffices because an item names its parent unless it has a neighbour, whose parent it shares,
and every neighbour it can have was checked the same way when it came in.

The encoding is Yjs's v1 update format, which y-websocket sends: per client, its structs
(garbage-collected ranges, skips, and items: an info byte whose low five bits say the kind of
content and whose high bits say which of left neighbour, right neighbour, parent and map key
follow), then the deletions, which need no check (deleting is editing).
"""

from .protocol import Reader

# The low five bits of an item's info byte: the kind of its content; those refused, by name.
GC, DELETED, STRING, SKIP = 0, 1, 4, 10
REFUSED_CONTENT = {
    2: "JSON values",
    3: "binary data",
    5: "an embed",
    6: "a formatting mark",
    7: "a nested shared type",
    8: "values",
    9: "a sub-document",
    11: "a move",
}
HAS_LEFT, HAS_RIGHT, HAS_KEY = 0x80, 0x40, 0x20
NAMED_PARENT = 1  # the parent is a top-level type, given by name (else by an item's id)


class NotPlainText(ValueError):
    """An update that would put something other than text into the document."""


def update_plain_text_check(update: bytes, *, text_name: str) -> None:
    """Raise NotPlainText unless every item ``update`` inserts is a string in the top-level
    text ``text_name`` (deleted items included: they keep their place in it). Raise
    ``protocol.ProtocolError`` for bytes that end early."""
    reader = Reader(update)
    for _ in range(reader.var_uint()):  # clients
        structs = reader.var_uint()
        reader.var_uint()  # the client
        reader.var_uint()  # the clock of its first struct
        for _ in range(structs):
            info = reader.uint8()
            if info == SKIP or info & 0x1F == GC:
                reader.var_uint()  # its length: nothing was inserted
                continue
            _item_check(reader, info, text_name=text_name)


def _item_check(reader: Reader, info: int, *, text_name: str) -> None:
    if info & HAS_KEY:  # set whenever the item is a map entry, named or not
        raise NotPlainText("it stores a value under a key")
    for neighbour in (HAS_LEFT, HAS_RIGHT):
        if info & neighbour:
            reader.var_uint()  # the neighbour's client
            reader.var_uint()  # and clock
    if not info & (HAS_LEFT | HAS_RIGHT):
        if reader.var_uint() != NAMED_PARENT:
            raise NotPlainText("it puts something inside a nested shared type")
        if reader.var_bytes() != text_name.encode():
            raise NotPlainText("it adds a shared type beside the document's text")
    kind = info & 0x1F
    if kind == STRING:
        reader.var_bytes()
    elif kind == DELETED:
        reader.var_uint()  # how many deleted items
    else:
        raise NotPlainText(f"it adds {REFUSED_CONTENT.get(kind, 'unknown content')}")
