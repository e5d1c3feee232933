"""Small GGUF files made for the tests: a valid header with the metadata given, no weights."""

import struct
from pathlib import Path

_UINT32, _STRING = 4, 8


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def gguf_write(path: Path, metadata: dict[str, str | int], *, padding: int = 0) -> Path:
    """Write a GGUF (version 3) header holding ``metadata`` (strings and integers) to ``path``,
    followed by ``padding`` zero bytes standing in for the weights."""
    body = b"".join(
        _string(key)
        + (
            struct.pack("<I", _STRING) + _string(value)
            if isinstance(value, str)
            else struct.pack("<II", _UINT32, value)
        )
        for key, value in metadata.items()
    )
    header = b"GGUF" + struct.pack("<IQQ", 3, 0, len(metadata))
    path.write_bytes(header + body + bytes(padding))
    return path


def tiny_llama(path: Path, *, chat_template: str | None = None, padding: int = 0) -> Path:
    """A header as a small llama-architecture model's would read."""
    metadata: dict[str, str | int] = {
        "general.architecture": "llama",
        "general.name": "Tiny",
        "llama.context_length": 4096,
        "llama.block_count": 2,
        "llama.embedding_length": 64,
        "llama.attention.head_count": 4,
        "llama.attention.head_count_kv": 2,
    }
    if chat_template is not None:
        metadata["tokenizer.chat_template"] = chat_template
    return gguf_write(path, metadata, padding=padding)
