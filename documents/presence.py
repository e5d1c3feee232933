"""How a person appears to the others in a document: a name and a colour of their own, shown
at the Yjs client their editor speaks for, and that client alone."""

import time
from contextlib import suppress

from redis.exceptions import RedisError

from realtime.claims import claim_board, server_claim_let_go, server_claim_take

# Distinct on a white page and under white text (cursor labels), in a stable order.
PALETTE = (
    "#2563eb", "#db2777", "#16a34a", "#ea580c", "#7c3aed",
    "#0891b2", "#ca8a04", "#dc2626", "#4f46e5", "#059669",
)  # fmt: skip
# An editor says it is present every 15 s (y-protocols); its claim is renewed at most this
# often, so most presence frames cost no Redis call.
CLAIM_RENEW_EVERY_S = 60


def person_colour(user_id: int) -> str:
    """The same colour for a person in every document and on every replica."""
    return PALETTE[user_id % len(PALETTE)]


class EditorClient:
    """The Yjs client one socket speaks for in a document's presence.

    Presence is keyed by Yjs client id, which each editor picks itself: a socket that could
    speak for any id could move, rename or hide another person's cursor. So the first id a
    socket names is claimed for it on every replica (``realtime.claims``), and from then on it
    speaks for that id only; an id another person's socket holds is refused.
    """

    def __init__(self, *, document_id: int, person_id: int, socket_id: str) -> None:
        self._document_id, self._person_id, self._socket_id = document_id, person_id, socket_id
        self.client_id: int | None = None  # the first id this socket was granted
        self._renew_at = 0.0  # while held, when to renew the claim next

    async def speaks_for(self, client_id: int) -> bool:
        """Whether this socket may speak for ``client_id`` now, claiming it if it may."""
        if self.client_id is not None and client_id != self.client_id:
            return False
        if self.client_id is not None and time.monotonic() < self._renew_at:
            return True
        held = await claim_board().take(
            self._name(client_id), person_id=self._person_id, socket_id=self._socket_id
        )
        self._renew_at = time.monotonic() + CLAIM_RENEW_EVERY_S if held else 0.0
        if held:
            self.client_id = client_id
        return held

    async def let_go(self) -> int | None:
        """Free this socket's client; the id, if the socket still held it (then it is gone
        from the document), else None (another socket of the person's speaks for it now)."""
        if self.client_id is None:
            return None
        still_held = await claim_board().let_go(
            self._name(self.client_id), person_id=self._person_id, socket_id=self._socket_id
        )
        return self.client_id if still_held else None

    def _name(self, client_id: int) -> str:
        return client_claim_name(self._document_id, client_id)


def client_claim_name(document_id: int, client_id: int) -> str:
    return f"document.{document_id}.yjs-client.{client_id}"


class AssistantClient:
    """The Yjs client the assistant writes a document as, held for it like an editor's (the
    worker is no socket): no member's editor can name it to move or hide the assistant's
    cursor."""

    def __init__(self, *, document_id: int, client_id: int, write_id: int) -> None:
        self._name = client_claim_name(document_id, client_id)
        self._holder_id = f"write-{write_id}"
        self._renew_at = 0.0

    def hold(self) -> bool:
        """Claim the client, or renew the claim now and then; False if an editor holds it
        or Redis is away (the next frame tries again)."""
        if time.monotonic() < self._renew_at:
            return True
        try:
            held = server_claim_take(self._name, holder_id=self._holder_id)
        except RedisError:
            return False
        self._renew_at = time.monotonic() + CLAIM_RENEW_EVERY_S if held else 0.0
        return held

    def let_go(self) -> None:
        """Free the client (it expires by itself if Redis is away now)."""
        with suppress(RedisError):
            server_claim_let_go(self._name, holder_id=self._holder_id)
