"""The document topic's events: what one editor's socket tells the others, on every replica.

Published with ``realtime.publish`` to ``realtime.topics.document_topic``; ``sender`` names
the socket an event came from, which does not get it back.
"""

from typing import Any

from realtime.publish import publish
from realtime.topics import document_topic

UPDATE = "document.update"  # update: a Yjs update (bytes)
PRESENCE = "document.presence"  # presence: an awareness update (bytes), already re-stamped
PRESENCE_QUERY = "document.presence_query"  # a socket joined: everyone, say who you are
RENAMED = "document.renamed"  # title
DELETED = "document.deleted"  # by: who deleted it

SERVER = "server"  # the sender of changes the server makes (restoring a version)


def document_publish(document_id: int, event_type: str, **fields: Any) -> None:
    publish(document_topic(document_id), {"type": event_type, **fields})
