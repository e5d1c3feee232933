"""Turning an uploaded file or a fetched page into located text, in an isolated process.

Parsers read untrusted bytes, and PDF parsers in particular have had many denial-of-service
bugs, so the parsing itself runs in a child process (``knowledge.parse_worker``) with limits on
address space, CPU time and wall time, and caps on pages and characters. This module decides
what kind a file is (its name, its declared type and its first bytes must agree: a file that
says PDF and is not one is refused, not guessed at), starts the child, relays its progress and
turns whatever goes wrong into a ``ParseError`` worded for the member.
"""

import json
import os
import resource
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings

KINDS = ("pdf", "csv", "markdown", "text", "html")
_EXTENSIONS = {
    ".pdf": "pdf",
    ".csv": "csv",
    ".tsv": "csv",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".log": "text",
    ".html": "html",
    ".htm": "html",
}
_MEDIA_TYPES = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "text/tab-separated-values": "csv",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/plain": "text",
    "text/html": "html",
    "application/xhtml+xml": "html",
}
_BINARY_SIGNATURES = {
    b"PK\x03\x04": "a ZIP archive (or an Office document)",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x1f\x8b": "a gzip archive",
    b"\xd0\xcf\x11\xe0": "an old Office document",
    b"\x7fELF": "a program",
}

WORKER = Path(__file__).resolve().with_name("parse_worker.py")
Progress = Callable[[int, int], None]  # done, of


class Pause(Protocol):
    """Something the parse steps aside for between pages (``answers_first.AnswersFirst``)."""

    def busy(self) -> bool: ...

    def wait(self) -> None: ...


class ParseError(Exception):
    """The file cannot be used as a source; the message says why, for the member."""


@dataclass
class Parsed:
    kind: str
    segments: list[dict[str, Any]]  # {"text": ..., "locator": {...}}
    pages: int | None = None
    rows: int | None = None
    title: str = ""
    notes: list[str] = field(default_factory=list)


def kind_detect(data: bytes, *, name: str, content_type: str = "") -> str:
    """The parser for ``data``: from its name or declared type, checked against its bytes."""
    if not data:
        raise ParseError(f"“{name}” is empty (0 bytes).")
    declared = _EXTENSIONS.get(Path(name).suffix.lower()) or _MEDIA_TYPES.get(
        content_type.split(";", maxsplit=1)[0].strip().lower()
    )
    is_pdf = data[:1024].lstrip().startswith(b"%PDF-")
    if declared == "pdf" and not is_pdf:
        raise ParseError(f"“{name}” is named as a PDF but is not one (it does not start like one).")
    if is_pdf:
        if declared not in (None, "pdf"):
            raise ParseError(f"“{name}” is a PDF with another name: give it a .pdf name.")
        return "pdf"
    for signature, what in _BINARY_SIGNATURES.items():
        if data.startswith(signature):
            raise ParseError(f"“{name}” is {what}, which cannot be used as a source.")
    if declared is None:
        head = data[:4096].lstrip().lower()
        if head.startswith((b"<!doctype html", b"<html")):
            return "html"
        return "text"
    return declared


def _limiter(*, memory_bytes: int, cpu_s: int) -> Callable[[], None]:
    """What the child does between fork and exec: limit itself, lead its own process group.

    A process group, not a session: on Linux a new session is a new scheduling autogroup, which
    takes a full share of the CPU however low the ingest worker's priority is, and the child
    is where most of an ingestion's CPU time goes."""

    def limit() -> None:  # pragma: no cover - runs in the child
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # it writes no files
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.setpgid(0, 0)  # killed as a group on timeout

    return limit


def parse_isolated(
    data: bytes,
    *,
    kind: str,
    name: str,
    charset: str | None = None,
    progress: Progress | None = None,
    pause: Pause | None = None,
) -> Parsed:
    """Parse ``data`` as ``kind`` in a limited child process; ParseError says what went wrong.

    ``progress(done, of)`` is called as pages (or rows) are read; if it raises, the child is
    killed and the exception propagates (that is how a cancel stops a long parse). After each
    page, while ``pause`` is busy, the child is stopped (SIGSTOP) for as long as
    ``pause.wait()`` takes; that time does not count against the parse's time limit.
    """
    if kind not in KINDS:
        raise ParseError(f"“{name}” is of a kind that cannot be read ({kind}).")
    limits = {
        "max_pages": settings.KNOWLEDGE_MAX_PAGES,
        "max_characters": settings.KNOWLEDGE_MAX_CHARACTERS,
        "name": f"“{name}”",
        "charset": charset,
    }
    timeout_s = settings.KNOWLEDGE_PARSE_TIMEOUT_S
    # -I: no environment variables, user site or current directory on the child's path.
    child = subprocess.Popen(
        [sys.executable, "-I", str(WORKER), kind, json.dumps(limits)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={"PATH": os.environ.get("PATH", "")},
        preexec_fn=_limiter(  # noqa: PLW1509 - only setrlimit and setpgid: no locks taken
            memory_bytes=settings.KNOWLEDGE_PARSE_MEMORY_MB * 1024 * 1024,
            cpu_s=int(timeout_s) + 1,
        ),
    )
    try:
        _send(child, data, name)
        return _parsed_from(
            child, kind=kind, name=name, timeout_s=timeout_s, progress=progress, pause=pause
        )
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()


def _send(child: subprocess.Popen[bytes], data: bytes, name: str) -> None:
    assert child.stdin is not None
    try:
        child.stdin.write(data)
        child.stdin.close()
    except BrokenPipeError as exc:  # it died at once: most likely the memory limit
        raise ParseError(f"“{name}” could not be read within the parser's limits.") from exc


def _parsed_from(
    child: subprocess.Popen[bytes],
    *,
    kind: str,
    name: str,
    timeout_s: float,
    progress: Progress | None,
    pause: Pause | None,
) -> Parsed:
    assert child.stdout is not None
    deadline = time.monotonic() + timeout_s
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(child.stdout, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ParseError(
                    f"Reading “{name}” took longer than {timeout_s:g} s: stopped. "
                    "Split it into smaller files."
                )
            if not selector.select(timeout=min(remaining, 0.5)):
                continue
            piece = os.read(child.stdout.fileno(), 1 << 20)
            if not piece:
                break
            buffer += piece
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                message = json.loads(line)
                if "progress" in message:
                    if progress is not None:
                        progress(int(message["progress"]), int(message["of"]))
                    if pause is not None and pause.busy():
                        deadline += _stopped_while(child, pause.wait)
                elif "error" in message:
                    raise ParseError(message["error"])
                elif "result" in message:
                    return _parsed(kind, message["result"])
    child.wait(timeout=5)
    if child.returncode in (-signal.SIGKILL, -signal.SIGXCPU):
        raise ParseError(f"Reading “{name}” used more time than allowed: stopped.")
    raise ParseError(
        f"“{name}” could not be read within the parser's limits (it may be damaged or too complex)."
    )


def _stopped_while(child: subprocess.Popen[bytes], wait: Callable[[], None]) -> float:
    """Run ``wait`` with the child's process group stopped; how long it took. A stopped
    child uses no CPU (its CPU-time limit is untouched) and resumes where it was."""
    started = time.monotonic()
    os.killpg(child.pid, signal.SIGSTOP)
    try:
        wait()
    finally:
        os.killpg(child.pid, signal.SIGCONT)
    return time.monotonic() - started


def _parsed(kind: str, result: dict[str, Any]) -> Parsed:
    notes = []
    if result.get("empty_pages"):
        notes.append(f"{result['empty_pages']} page(s) have no text layer and were skipped.")
    return Parsed(
        kind=kind,
        segments=result["segments"],
        pages=result.get("pages"),
        rows=result.get("rows"),
        title=result.get("title", ""),
        notes=notes,
    )
