"""The document topic's events: what one editor's socket tells the others, on every replica.

=======================  =========================================================
event type               meaning and payload
=======================  =========================================================
document.update          ``update``: a Yjs update (bytes), kept or about to be
document.presence        ``presence``: an awareness update (bytes), re-stamped
document.presence_query  a socket joined: everyone, say who you are
document.renamed         ``title``
document.deleted         ``by``: who deleted it; open editors close
document.write           ``write``: the assistant's write as editors show it
                         (``WriteData``)
=======================  =========================================================

Published to ``realtime.topics.document_topic``; ``sender`` names the socket an event came
from, which does not get it back (``SERVER`` for changes the server makes).
"""

from typing import TYPE_CHECKING, TypedDict

from realtime.contract import EventModel
from realtime.publish import publish
from realtime.topics import document_topic

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from .models import DocumentWrite

SERVER = "server"  # the sender of changes the server makes (restoring a version, the assistant)


class WriteData(TypedDict):
    """A write as editors show it: who asked for what, how it stands, who stopped it, and
    while queued how many of the workspace's requests to the model are served first."""

    id: int
    status: str
    instruction: str
    by: str
    stopped_by: str
    error: str
    ahead: int | None


class Updated(EventModel):
    type = "document.update"
    sender: str
    update: bytes


class PresenceSaid(EventModel):
    type = "document.presence"
    sender: str
    presence: bytes


class PresenceAsked(EventModel):
    type = "document.presence_query"
    sender: str


class Renamed(EventModel):
    type = "document.renamed"
    title: str


class Deleted(EventModel):
    type = "document.deleted"
    by: str


class WriteChanged(EventModel):
    type = "document.write"
    write: WriteData


def document_publish(document_id: int, event: EventModel) -> None:
    publish(document_topic(document_id), event)


def write_data(write: "DocumentWrite", *, ahead: int | None = None) -> WriteData:
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
    document_publish(write.document_id, WriteChanged(write=write_data(write, ahead=ahead)))
