"""Sample files the knowledge tests generate: PDFs with known text on known pages, and more;
and a look at the parser's child processes."""

import io
import os
from pathlib import Path

from harness.pdf import pdf_make

__all__ = [
    "CSV_LATIN1",
    "MARKDOWN",
    "SPEC_PAGES",
    "parser_states",
    "pdf_encrypt",
    "pdf_make",
]


def parser_states() -> list[str]:
    """The scheduling state (R, S, T for stopped...) of each parser child of this process."""
    states = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue  # ended meanwhile
        if int(fields[1]) == os.getpid() and b"parse_worker" in cmdline:
            states.append(fields[0])
    return states


def pdf_encrypt(data: bytes, password: str = "s3cret") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=password, owner_password=password, algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


SPEC_PAGES = [
    "Orbital Widget Specification\nThis document describes the widget.",
    "Power budget\nThe widget draws at most 42 milliwatts in standby mode.",
    "Thermal limits\nOperating range is minus 20 to plus 85 degrees Celsius.",
]

MARKDOWN = """# Handbook

Welcome to the team handbook.

## Setup

### Install

Run the installer and choose the blue option.

```
# not a heading, inside a fence
```

## Holidays

Everyone gets twenty-seven days of leave.
"""

CSV_LATIN1 = "Ville;Pays;Habitants\nZürich;Suisse;421000\nCafé-sur-Mer;France;1200\n".encode(
    "cp1252"
)
