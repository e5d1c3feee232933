"""The document topic's events: what one editor's socket tells the others, on every replica.

Published with ``realtime.publish`` to ``realtime.topics.document_topic``; ``sender`` names
the socket an event came from, which does not get it back.
"""

from typing import TYPE_CHECKING, Any

from realtime.publish import publish
from realtime.topics import document_topic

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from .models import DocumentWrite

UPDATE = "document.update"  # update: a Yjs update (bytes)
PRESENCE = "document.presence"  # presence: an awareness update (bytes), already re-stamped
PRESENCE_QUERY = "document.presence_query"  # a socket joined: everyone, say who you are
RENAMED = "document.renamed"  # title
DELETED = "document.deleted"  # by: who deleted it
WRITE = "document.write"  # write: the assistant's write as editors show it (see write_data)

SERVER = "server"  # the sender of changes the server makes (restoring a version)


def document_publish(document_id: int, event_type: str, **fields: Any) -> None:
    publish(document_topic(document_id), {"type": event_type, **fields})


def write_data(write: "DocumentWrite", *, ahead: int | None = None) -> dict[str, Any]:
    """A write as editors show it: who asked for what, how it stands, who stopped it, and
    while queued how many of the workspace's requests to the model are served first
    (``ahead``)."""
    return {
        "id": write.pk,
        "status": write.status,
        "instruction": write.instruction,
        "by": _name(write.requested_by),
        "stopped_by": _name(write.stopped_by) if write.stopped_by_id else "",
        "error": write.error,
        "ahead": ahead,
    }


def _name(person: "User | None") -> str:
    return (person.get_full_name() or person.get_username()) if person else ""


def write_publish(write: "DocumentWrite", *, ahead: int | None = None) -> None:
    document_publish(write.document_id, WRITE, write=write_data(write, ahead=ahead))
