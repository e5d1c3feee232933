"""Cutting located text into passages that keep their locator.

A passage (chunk) is what retrieval returns and an answer cites, so it must say exactly where
it comes from: the page or pages, the row range, the heading, the lines. Consecutive short
segments of the same sort (pages, rows, lines) are merged, and their locators with them
("pp. 3–4", "rows 2–41"); sections under different headings are never merged, so a heading
locator is always the passage's own. A long segment is cut into overlapping windows at
paragraph, sentence or word boundaries, each keeping its segment's locator.
"""

import re
from dataclasses import dataclass
from typing import Any

Locator = dict[str, Any]
_RANGE_KEYS = ("page", "rows", "lines")
_BREAKS = (re.compile(r"\n\s*\n"), re.compile(r"(?<=[.!?])\s+"), re.compile(r"\s+"))


@dataclass(frozen=True)
class Piece:
    text: str
    locator: Locator


def locator_label(locator: Locator) -> str:
    """How a passage's place is shown: "p. 3", "pp. 3–4", "rows 2–41", "Setup › Install"."""
    if "page" in locator:
        first, last = locator["page"]
        return f"p. {first}" if first == last else f"pp. {first}–{last}"
    if "rows" in locator:
        first, last = locator["rows"]
        return f"row {first}" if first == last else f"rows {first}–{last}"
    if "lines" in locator:
        first, last = locator["lines"]
        return f"line {first}" if first == last else f"lines {first}–{last}"
    return str(locator.get("heading", ""))


def chunks_make(segments: list[dict[str, Any]], *, size: int, overlap: int) -> list[Piece]:
    """Passages of at most about ``size`` characters from ``segments`` ({"text", "locator"})."""
    pieces: list[Piece] = []
    for segment in segments:
        text, locator = segment["text"].strip(), segment["locator"]
        if not text:
            continue
        if len(text) > size:
            pieces.extend(Piece(window, locator) for window in _windows(text, size, overlap))
            continue
        previous = pieces[-1] if pieces else None
        if previous is not None and _mergeable(previous, locator, len(text), size):
            pieces[-1] = Piece(f"{previous.text}\n\n{text}", _merged(previous.locator, locator))
        else:
            pieces.append(Piece(text, locator))
    return pieces


def _mergeable(previous: Piece, locator: Locator, length: int, size: int) -> bool:
    if len(previous.text) + 2 + length > size:
        return False
    keys = [key for key in _RANGE_KEYS if key in locator]
    return bool(keys) and keys[0] in previous.locator


def _merged(first: Locator, second: Locator) -> Locator:
    key = next(key for key in _RANGE_KEYS if key in first)
    return {key: [first[key][0], second[key][1]]}


def _windows(text: str, size: int, overlap: int) -> list[str]:
    """Overlapping windows of ``text``, each ending at the best boundary before ``size``."""
    windows: list[str] = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            end = _boundary(text, start, end)
        window = text[start:end].strip()
        if window:
            windows.append(window)
        if end >= len(text):
            break
        start = max(_next_start(text, end - overlap, end), start + 1)
    return windows


def _boundary(text: str, start: int, end: int) -> int:
    """The last paragraph, sentence or word break in the back half of ``text[start:end]``."""
    floor = start + (end - start) // 2
    for pattern in _BREAKS:
        breaks = [m.end() for m in pattern.finditer(text, floor, end)]
        if breaks:
            return breaks[-1]
    return end


def _next_start(text: str, position: int, end: int) -> int:
    """Start the overlap at a word boundary, so no window begins mid-word."""
    match = re.compile(r"\s+").search(text, max(position, 0), end)
    return match.end() if match else end
