"""What an installation holds, read the way the app reads it, as JSON-ready data.

The backup tests read it from the live test database and, through ``python -m`` in a child
process, from a restored one, and compare the two. Documents are read through their text
reader (snapshot plus update log), not as bytes.
"""

import hashlib
import json
import os
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

MESSAGE_FIELDS = ("id", "thread_id", "role", "author__username", "body", "status", "created_at")


def _rows(queryset: QuerySet[Any], *fields: str) -> list[dict[str, Any]]:
    return [
        {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in row.items()
        }
        for row in queryset.order_by("pk").values(*fields)
    ]


def installation_contents() -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    from chat.models import Message, Thread
    from documents.models import Document, DocumentVersion
    from documents.selectors import document_text_get
    from knowledge.models import Chunk, Source
    from workspace.models import Membership, Workspace

    return {
        "users": _rows(get_user_model().objects.all(), "id", "username", "email", "password"),
        "workspaces": _rows(Workspace.objects.all(), "id", "name", "created_at"),
        "memberships": _rows(Membership.objects.all(), "workspace_id", "user__username", "role"),
        "threads": _rows(Thread.objects.all(), "id", "workspace_id", "title"),
        "messages": _rows(Message.objects.all(), *MESSAGE_FIELDS),
        "documents": [
            {
                "id": document.pk,
                "workspace_id": document.workspace_id,
                "title": document.title,
                "deleted": document.deleted_at is not None,
                "text": document_text_get(document_id=document.pk),
            }
            for document in Document.objects.order_by("pk")
        ],
        "versions": _rows(DocumentVersion.objects.all(), "document_id", "name", "text"),
        "sources": [
            {
                "id": source.pk,
                "workspace_id": source.workspace_id,
                "kind": source.kind,
                "title": source.title,
                "file_name": source.file_name,
                "status": source.status,
                "data_sha256": hashlib.sha256(bytes(source.data)).hexdigest(),
                "size": len(bytes(source.data)),
            }
            for source in Source.objects.order_by("pk")
        ],
        "chunks": [
            {
                "source_id": chunk.source_id,
                "ordinal": chunk.ordinal,
                "text": chunk.text,
                "embedding": bytes(chunk.embedding or b"").hex(),
            }
            for chunk in Chunk.objects.order_by("pk")
        ],
    }


if __name__ == "__main__":
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    print(json.dumps(installation_contents()))
