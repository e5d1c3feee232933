"""A thread (Markdown or JSON) and a document (Markdown) as files to keep: who said what and
when, each answer's model, statistics, end and sources. Read as the member who asks.

The pages' export links and the API's export endpoints answer with the same files
(``thread_export_file``, ``document_export_file``); each door only finds what is asked for.
"""

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.http import HttpResponse
from django.utils import timezone

from chat.citations import AnswerSource
from chat.message_read import MessageData
from chat.models import Message, Thread
from chat.selectors import messages_read
from documents.models import Document
from documents.selectors import document_text_get

BATCH = 200


def _messages(thread: Thread) -> Iterator[MessageData]:
    """Every message, oldest first, as the API shows them (live text for streaming ones)."""
    messages = Message.objects.filter(thread=thread).select_related(
        "author", "assistant", "generation"
    )
    last_id = 0
    while batch := list(messages.filter(pk__gt=last_id).order_by("id")[:BATCH]):
        for message in messages_read(batch, workspace_id=thread.workspace_id):
            yield message.to_data()
        last_id = batch[-1].pk


def thread_export_data(*, thread: Thread) -> dict[str, Any]:
    return {
        "thread": {
            "id": thread.pk,
            "title": thread.title,
            "workspace": {"id": thread.workspace_id, "name": thread.workspace.name},
            "created_at": thread.created_at.isoformat(),
        },
        "exported_at": timezone.now().isoformat(),
        "messages": list(_messages(thread)),
    }


def _when(iso: str) -> str:
    return (
        datetime.fromisoformat(iso)
        .astimezone(timezone.get_current_timezone())
        .strftime("%Y-%m-%d %H:%M %Z")
    )


def _answer_note(message: MessageData) -> str:
    """An answer's end and figures, in one line."""
    parts = []
    if message["model"]:
        parts.append(message["model"])
    if message["status"] != "done":
        parts.append(message["status"])
    if message["stop_reason"] and message["stop_reason"] != "stop":
        parts.append(message["stop_reason"])
    stats = message["statistics"]
    if stats:
        if stats["completion_tokens"] is not None:
            parts.append(f"{stats['completion_tokens']} tokens")
        if stats["tokens_per_second"]:
            parts.append(f"{stats['tokens_per_second']:.1f} tokens/s")
        if stats["time_to_first_token_ms"] is not None:
            parts.append(f"first token {stats['time_to_first_token_ms']:.0f} ms")
    if message["error"]:
        parts.append(f"error: {message['error']}")
    return " · ".join(parts)


def thread_export_markdown(*, thread: Thread) -> str:
    data = thread_export_data(thread=thread)
    lines = [
        f"# {thread.title}",
        "",
        f"Workspace: {thread.workspace.name} · exported {_when(data['exported_at'])}",
        "",
    ]
    for message in data["messages"]:
        lines.append(f"## {message['author']} · {_when(message['created_at'])}")
        if message["role"] == "assistant" and (note := _answer_note(message)):
            lines += ["", f"*{note}*"]
        lines.append("")
        if message["deleted_at"]:
            lines.append("*(deleted)*")
        else:
            lines.append(message["body"] or "*(no text)*")
            if message["edited_at"]:
                lines += ["", f"*(edited {_when(message['edited_at'])})*"]
        sources = message.get("sources") or []
        if sources:
            lines += ["", "Sources:", ""]
            ended = message["status"] not in Message.ACTIVE_STATUSES
            for source in sources:
                where = f", {source['locator']}" if source["locator"] else ""
                mark = _cited_mark(source) if ended else ""
                lines.append(f"- [{source['number']}] {source['title']}{where}{mark}")
        lines.append("")
    return "\n".join(lines)


def _cited_mark(source: AnswerSource) -> str:
    """Whether the ended answer cited the source, as the page and the JSON export say."""
    if "cited" not in source:  # recorded before answers said which they cited
        return ""
    return " (cited)" if source["cited"] else " (not cited)"


def document_export_markdown(*, document: Document) -> str:
    """The document's text as of now (it is Markdown already), under its title."""
    text = document_text_get(document_id=document.pk)
    return f"# {document.title}\n\n{text.rstrip()}\n"


def export_filename(title: str, extension: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_ " else "-" for c in title).strip() or "export"
    return f"{safe[:80]}.{extension}"


def thread_export_file(*, thread: Thread, as_json: bool) -> HttpResponse:
    """The thread as a file to download: Markdown, or JSON (the messages as the API gives
    them)."""
    if as_json:
        body = json.dumps(thread_export_data(thread=thread), ensure_ascii=False, indent=2)
        return _attachment(body, "application/json", export_filename(thread.title, "json"))
    markdown = thread_export_markdown(thread=thread)
    return _attachment(markdown, "text/markdown", export_filename(thread.title, "md"))


def document_export_file(*, document: Document) -> HttpResponse:
    """The document's text as of now, as a Markdown file to download."""
    markdown = document_export_markdown(document=document)
    return _attachment(markdown, "text/markdown", export_filename(document.title, "md"))


def _attachment(body: str, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
