"""Reading a GGUF file's header without llama.cpp: is it GGUF, and what does it say of itself.

Web processes and the admin validate a model file before anyone asks it anything; they do not
load llama.cpp (see ``llm.model``), so the few facts they need (architecture, chat template,
the sizes that decide the context's memory) are read here from the metadata, following the
GGUF layout: magic ``GGUF``, version, tensor count, key/value count, then typed key/values.
"""

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MAGIC = b"GGUF"

# Metadata value types, as numbered by the GGUF specification.
_FIXED = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


class GgufError(ValueError):
    """The file is missing, is not GGUF, or its header cannot be read; the message says which."""


@dataclass(frozen=True)
class GgufInfo:
    architecture: str
    name: str
    context_length: int | None  # what the model was trained for
    has_chat_template: bool
    size_bytes: int
    kv_bytes_per_token: int  # the context's memory per token (f16 keys and values)

    def memory_needed(self, n_ctx: int) -> int:
        """Bytes to hold the weights and a context of ``n_ctx`` tokens, roughly."""
        return self.size_bytes + n_ctx * self.kv_bytes_per_token


def gguf_magic_problem(path: Path) -> str | None:
    """Why ``path`` is not a GGUF file, checked cheaply (exists, is a file, magic bytes)."""
    if not path.exists():
        return f"No file at {path}."
    if not path.is_file():
        return f"{path} is not a file."
    try:
        with path.open("rb") as file:
            start = file.read(len(MAGIC))
    except OSError as exc:
        return f"{path} cannot be read ({exc.strerror})."
    if start != MAGIC:
        return f"{path} is not a GGUF file (it starts with {start!r}, not {MAGIC!r})."
    return None


def gguf_read(path: Path) -> GgufInfo:
    """The facts of a GGUF file's header; raises GgufError saying what is wrong."""
    problem = gguf_magic_problem(path)
    if problem:
        raise GgufError(problem)
    try:
        with path.open("rb") as file:
            metadata = _metadata(file)
    except (struct.error, UnicodeDecodeError, EOFError) as exc:
        raise GgufError(
            f"{path} is not a readable GGUF file (its header is broken: {exc})."
        ) from exc
    architecture = str(metadata.get("general.architecture", ""))

    def number(key: str) -> int | None:
        value = metadata.get(f"{architecture}.{key}")
        return int(value) if isinstance(value, int | float) else None

    layers = number("block_count") or 0
    embedding = number("embedding_length") or 0
    heads = number("attention.head_count") or 1
    kv_heads = number("attention.head_count_kv") or heads
    key_length = number("attention.key_length") or embedding // heads
    value_length = number("attention.value_length") or embedding // heads
    return GgufInfo(
        architecture=architecture,
        name=str(metadata.get("general.name", "")),
        context_length=number("context_length"),
        has_chat_template=bool(metadata.get("tokenizer.chat_template")),
        size_bytes=path.stat().st_size,
        kv_bytes_per_token=2 * layers * kv_heads * (key_length + value_length),
    )


def _metadata(file: BinaryIO) -> dict[str, object]:
    file.read(len(MAGIC))
    (version,) = _unpack(file, "I")
    if version < 2:
        raise GgufError(f"GGUF version {version} is too old (2 or later is needed).")
    _tensors, count = _unpack(file, "QQ")
    metadata: dict[str, object] = {}
    for _ in range(count):
        key = _string(file)
        (kind,) = _unpack(file, "I")
        metadata[key] = _value(file, kind)
    return metadata


def _value(file: BinaryIO, kind: int) -> object:
    if kind in _FIXED:
        return _unpack(file, _FIXED[kind])[0]
    if kind == _STRING:
        return _string(file)
    if kind == _ARRAY:
        item_kind, length = _unpack(file, "IQ")
        if item_kind in _FIXED:  # numbers are skipped: nothing here needs them
            file.seek(length * struct.calcsize("<" + _FIXED[item_kind]), 1)
        else:
            for _ in range(length):
                _value(file, item_kind)
        return None
    raise GgufError(f"unknown metadata value type {kind}")


def _string(file: BinaryIO) -> str:
    (length,) = _unpack(file, "Q")
    data = file.read(length)
    if len(data) != length:
        raise EOFError("the file ends inside the header")
    return data.decode("utf-8")


def _unpack(file: BinaryIO, layout: str) -> tuple[int, ...]:
    layout = "<" + layout
    data = file.read(struct.calcsize(layout))
    if len(data) != struct.calcsize(layout):
        raise EOFError("the file ends inside the header")
    return struct.unpack(layout, data)
