"""Sample files the knowledge tests generate: PDFs with known text on known pages, and more."""

import io

from harness.pdf import pdf_make

__all__ = ["CSV_LATIN1", "MARKDOWN", "SPEC_PAGES", "pdf_encrypt", "pdf_make"]


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
