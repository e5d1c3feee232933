"""Events about a person's account, published to their user topic.

=================  ===============================================================
event type         meaning and payload
=================  ===============================================================
account.changed    the account, its memberships or one of its sessions changed:
                   each of the person's sockets checks its access again and closes
                   if it lost it; ``ended_session`` (optional) is the digest of a
                   session that was logged out, whose sockets close at once
=================  ===============================================================
"""

import hashlib

from .publish import publish
from .topics import user_topic

ACCOUNT_CHANGED = "account.changed"


def session_digest(session_key: str) -> str:
    """Names a session in events without putting its key, a credential, on the wire."""
    return hashlib.sha256(session_key.encode()).hexdigest()


def account_changed(user_id: int, *, ended_session: str | None = None) -> None:
    event: dict[str, object] = {"type": ACCOUNT_CHANGED}
    if ended_session is not None:
        event["ended_session"] = session_digest(ended_session)
    publish(user_topic(user_id), event)
