"""realtime's own events: a person's account changed, who is here, who is typing.

=================  ===============================================================
event type         meaning and payload
=================  ===============================================================
account.changed    (user topic) the account, its memberships or one of its sessions
                   changed: each of the person's sockets checks its access again and
                   closes if it lost it; ``ended_session`` (optional) is the digest
                   of a session that was logged out, whose sockets close at once
presence.changed   (any topic with presence) ``people``: everyone there, by name
presence.typing    (the same) ``person``: who said they are typing
=================  ===============================================================
"""

import hashlib
from typing import TypedDict

from .contract import EventModel
from .publish import publish
from .topics import user_topic


class Person(TypedDict):
    id: int
    name: str


class AccountChanged(EventModel):
    type = "account.changed"
    ended_session: str | None = None


class PresenceChanged(EventModel):
    type = "presence.changed"
    people: list[Person]  # sorted by name


class PresenceTyping(EventModel):
    type = "presence.typing"
    person: Person


def session_digest(session_key: str) -> str:
    """Names a session in events without putting its key, a credential, on the wire."""
    return hashlib.sha256(session_key.encode()).hexdigest()


def account_changed(user_id: int, *, ended_session: str | None = None) -> None:
    digest = session_digest(ended_session) if ended_session is not None else None
    publish(user_topic(user_id), AccountChanged(ended_session=digest))
