"""The parser that runs in a child process: untrusted bytes in on stdin, JSON lines out.

Started by ``knowledge.parsing.parse_isolated`` with a memory and CPU limit (and no Django):
a file crafted to make a parser loop, or to blow up memory, ends this process and no other.
Arguments: the kind (pdf, csv, markdown, text, html), then a JSON object of limits. Output:
``{"progress": n, "of": total}`` lines while reading, then one ``{"result": ...}`` or
``{"error": "..."}`` line, the error worded for the member.
"""

import csv
import io
import json
import re
import sys
from typing import Any

Segment = dict[str, Any]  # {"text": str, "locator": {...}}


class Refused(Exception):
    """The file cannot be used; the message says why, for the member."""


def _emit(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


class Limits:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.max_pages = int(raw.get("max_pages", 1000))
        self.max_characters = int(raw.get("max_characters", 5_000_000))
        self.name = str(raw.get("name", "The file"))
        self.charset = raw.get("charset")
        self.characters = 0

    def count(self, text: str) -> None:
        self.characters += len(text)
        if self.characters > self.max_characters:
            raise Refused(
                f"{self.name} has more than {self.max_characters:,} characters of text, "
                "the limit: split it into smaller files."
            )


def parse_pdf(data: bytes, limits: Limits) -> dict[str, Any]:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:  # protected against changes only: readable with the empty password
                reader.decrypt("")
                reader.pages[0].extract_text()
            except (FileNotDecryptedError, PdfReadError, NotImplementedError) as exc:
                raise Refused(
                    f"{limits.name} is password-protected: remove the password, then add it again."
                ) from exc
        count = len(reader.pages)
    except Refused:
        raise
    except Exception as exc:
        raise Refused(f"{limits.name} could not be read as a PDF (it may be damaged).") from exc
    if count == 0:
        raise Refused(f"{limits.name} has no pages.")
    if count > limits.max_pages:
        raise Refused(
            f"{limits.name} has {count:,} pages; the limit is {limits.max_pages:,}: "
            "split it into smaller files."
        )
    segments: list[Segment] = []
    empty_pages = 0
    for number, page in enumerate(reader.pages, start=1):
        try:
            text = page.extract_text() or ""
        except Exception as exc:
            raise Refused(f"Page {number} of {limits.name} could not be read.") from exc
        text = _tidy(text)
        if text:
            limits.count(text)
            segments.append({"text": text, "locator": {"page": [number, number]}})
        else:
            empty_pages += 1
        _emit({"progress": number, "of": count})
    if not segments:
        raise Refused(
            f"{limits.name} has no text layer (it looks scanned, or made of images): "
            "run it through OCR, then add it again."
        )
    return {"segments": segments, "pages": count, "empty_pages": empty_pages}


def decode_text(data: bytes, limits: Limits) -> str:
    """The bytes as text: UTF-8 (with or without a BOM), the declared charset, or detected."""
    if data.startswith(b"%PDF-"):
        raise Refused(f"{limits.name} is a PDF with another name: give it a .pdf name.")
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise Refused(f"{limits.name} is not a text file (it holds binary data).")
    for encoding in ("utf-8-sig", limits.charset):
        if encoding:
            try:
                return data.decode(encoding)
            except (UnicodeDecodeError, LookupError):
                pass
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        raise Refused(f"{limits.name} is not text in any encoding that could be recognised.")
    # A short text reads equally well in several code pages: among the least chaotic
    # readings, take the most widespread encoding.
    calmest = min(match.chaos for match in matches)
    calm = [match for match in matches if match.chaos <= calmest + 0.01]
    return str(min(calm, key=lambda match: _encoding_rank(match.encoding)))


COMMON_ENCODINGS = (
    "utf_8",
    "cp1252",
    "latin_1",
    "iso8859_15",
    "cp1250",
    "cp1251",
    "shift_jis",
    "cp932",
    "gb18030",
    "gb2312",
    "big5",
    "euc_kr",
    "euc_jp",
    "koi8_r",
    "utf_16",
    "cp437",
    "cp850",
)


def _encoding_rank(encoding: str) -> int:
    return (
        COMMON_ENCODINGS.index(encoding) if encoding in COMMON_ENCODINGS else len(COMMON_ENCODINGS)
    )


def parse_csv(data: bytes, limits: Limits) -> dict[str, Any]:
    text = decode_text(data, limits)
    limits.count(text)
    sample = text[:65536]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    csv.field_size_limit(1024 * 1024)
    try:
        rows = list(csv.reader(io.StringIO(text), dialect))
    except csv.Error as exc:
        raise Refused(f"{limits.name} could not be read as CSV: {exc}.") from exc
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise Refused(f"{limits.name} has no rows.")
    header = [cell.strip() for cell in rows[0]]
    segments: list[Segment] = []
    for number, row in enumerate(rows[1:], start=2):
        cells = [
            f"{header[i] if i < len(header) and header[i] else f'column {i + 1}'}: {value.strip()}"
            for i, value in enumerate(row)
            if value.strip()
        ]
        segments.append({"text": "; ".join(cells), "locator": {"rows": [number, number]}})
        if number % 1000 == 0:
            _emit({"progress": number - 1, "of": len(rows) - 1})
    if not segments:  # a header alone is still something to find
        segments.append({"text": "; ".join(header), "locator": {"rows": [1, 1]}})
    return {"segments": segments, "rows": len(rows) - 1, "columns": header}


_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^(```|~~~)")


def markdown_sections(text: str) -> list[Segment]:
    """One segment per section, located by its heading path ("Setup › Install")."""
    segments: list[Segment] = []
    path: list[tuple[int, str]] = []
    lines: list[str] = []
    in_fence = False

    def flush() -> None:
        body = _tidy("\n".join(lines))
        if body and not (path and body == lines[0].strip()):  # not a heading alone
            heading = " › ".join(title for _, title in path)
            locator = {"heading": heading} if heading else {"heading": ""}
            segments.append({"text": body, "locator": locator})
        lines.clear()

    for line in text.splitlines():
        if _FENCE.match(line.strip()):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            flush()
            level = len(match.group(1))
            path = [(lvl, title) for lvl, title in path if lvl < level]
            path.append((level, match.group(2).strip()))
        lines.append(line)
    flush()
    return segments


def parse_markdown(data: bytes, limits: Limits) -> dict[str, Any]:
    text = decode_text(data, limits)
    limits.count(text)
    segments = markdown_sections(text)
    if not segments:
        raise Refused(f"{limits.name} has no text.")
    return {"segments": segments}


def parse_text(data: bytes, limits: Limits) -> dict[str, Any]:
    text = decode_text(data, limits)
    limits.count(text)
    segments: list[Segment] = []
    block: list[str] = []
    start = 1
    for number, line in enumerate([*text.splitlines(), ""], start=1):
        if line.strip():
            if not block:
                start = number
            block.append(line)
        elif block:
            segments.append(
                {"text": "\n".join(block).strip(), "locator": {"lines": [start, number - 1]}}
            )
            block = []
    if not segments:
        raise Refused(f"{limits.name} has no text.")
    return {"segments": segments, "lines": text.count("\n") + 1}


def parse_html(data: bytes, limits: Limits) -> dict[str, Any]:
    import trafilatura

    html = decode_text(data, limits)
    extracted = trafilatura.extract(
        html, output_format="markdown", include_tables=True, include_comments=False
    )
    if not extracted or not extracted.strip():
        raise Refused(f"{limits.name} has no readable text (the page may need JavaScript).")
    limits.count(extracted)
    title = _html_title(html)
    if not title:
        metadata = trafilatura.extract_metadata(html)
        title = (metadata.title if metadata is not None else None) or ""
    return {"segments": markdown_sections(extracted), "title": title}


def _html_title(html: str) -> str:
    from lxml import html as lxml_html

    try:
        return " ".join((lxml_html.fromstring(html).findtext(".//title") or "").split())
    except (ValueError, lxml_html.etree.ParserError):
        return ""


PARSERS = {
    "pdf": parse_pdf,
    "csv": parse_csv,
    "markdown": parse_markdown,
    "text": parse_text,
    "html": parse_html,
}


def _tidy(text: str) -> str:
    text = text.replace("\x00", "")
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def main() -> int:
    kind = sys.argv[1]
    limits = Limits(json.loads(sys.argv[2]))
    data = sys.stdin.buffer.read()
    try:
        result = PARSERS[kind](data, limits)
    except Refused as exc:
        _emit({"error": str(exc)})
        return 0
    except MemoryError:
        _emit({"error": f"{limits.name} needs more memory to read than is allowed."})
        return 0
    _emit({"result": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
