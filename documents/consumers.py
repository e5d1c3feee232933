"""The document socket: the y-websocket protocol between one editor and the document's state.

Binary frames are y-websocket's (``protocol``); text frames from the server carry notices the
editor shows (errors, read-only, deleted), as JSON. On joining, the server sends its state
vector, so the editor answers with whatever it holds that the server lacks (edits made
offline); the editor's own state vector, sent on joining and every few seconds after, is
answered with what the editor lacks, and with the server's state vector again: a change lost
on the way in either direction heals at the next resync.
"""

import json
import logging
import uuid
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError
from pycrdt import get_state
from redis.exceptions import RedisError

from realtime.consumers import CLOSE_NOT_FOUND, MemberSocket
from realtime.contract import EventModel
from realtime.fanout import Event, fanout
from realtime.publish import publish_async
from realtime.topics import document_topic

from . import events, protocol
from .crdt import EMPTY_UPDATE, MalformedUpdate, update_missing
from .presence import EditorClient, person_colour
from .selectors import (
    DocumentAccess,
    document_access_get,
    document_deleted_by,
    document_state_get,
    write_list_active,
)
from .services import document_update_check, update_too_large_message
from .update_log import pending_updates

logger = logging.getLogger(__name__)

CLOSE_CHANGE_REFUSED = 4413  # a change could not be kept: the editor ends, saying why
CHANGE_REFUSED_CODES = ("too_large", "document_full", "not_text")
RESYNC = "document.resync"  # after a lost Redis connection: the whole state, once per topic
READ_ONLY = "You can read this document but not change it: your role in this workspace is viewer."
EDITABLE_AGAIN = "You can edit this document again: your role in this workspace is member."
REFUSED = "Your change was not saved: " + READ_ONLY[0].lower() + READ_ONLY[1:]
PRESENCE_REFUSED = (
    "Another person's editor on this document already uses your editor's id, so the others do "
    "not see where you are. Your changes are saved as usual; reload the page to get a new id."
)
OTHERS_AWAY = "Reconnecting: your edits are kept, and reach the others when the connection is back."
DELETED = (
    "{by} deleted this document; it can be restored from the workspace page. Changes made "
    "here from now on are not saved."
)


class _AccessEnded(Exception):
    """The sender's session or membership ended, or the document was deleted: close the socket
    with ``code`` (after saying who deleted the document, if it was that)."""

    def __init__(self, code: int, *, deleted_by: str | None) -> None:
        super().__init__(code)
        self.code = code
        self.deleted_by = deleted_by


async def _document_catch_up(topic: str) -> Event:
    document_id = int(topic.rsplit(".", 1)[1])
    state = await database_sync_to_async(document_state_get)(document_id=document_id)
    return {
        "type": RESYNC,
        "frames": [protocol.sync_step1(get_state(state)), protocol.sync_update(state)],
    }


# What each relayed event becomes for the editors: its frame, made once in this process.
_FRAMES = {
    events.Updated.type: lambda event: protocol.sync_update(event["update"]),
    events.PresenceSaid.type: lambda event: protocol.awareness(event["presence"]),
}


async def _frame_once(event: Event) -> Event:
    """Turn a topic event into the frame every editor in this process is sent, once."""
    frame = _FRAMES.get(event["type"])
    return event if frame is None else {**event, "frame": frame(event)}


class DocumentConsumer(MemberSocket):
    """One member's editor on one document."""

    access: DocumentAccess
    _could_edit: bool  # what the editor was last told it may do

    def object_get(self, user: Any) -> None:
        self.access = document_access_get(
            user=user, document_id=self.scope["url_route"]["kwargs"]["document_id"]
        )

    async def access_rechecked(self) -> None:
        """Made viewer (or member again) while editing: the editor follows at once, turning
        read-only (or editable again) without a reload."""
        could_edit = getattr(self, "_could_edit", self.access.can_edit)
        if could_edit and not self.access.can_edit:
            await self._notice("read_only", READ_ONLY)
        elif self.access.can_edit and not could_edit:
            self._refusal_told = False  # made viewer again later, they are told again
            await self._notice("editable", EDITABLE_AGAIN)
        self._could_edit = self.access.can_edit

    async def joined(self) -> None:
        self._sender = uuid.uuid4().hex
        document_id = self.access.document.pk
        self._client = EditorClient(
            document_id=document_id, person_id=self._user_id, socket_id=self._sender
        )
        self._clients_refused: set[int] = set()  # told once each
        self._presence_clock = 0
        self._refusal_due = self._refusal_told = False  # one notice per socket is enough
        self._could_edit = self.access.can_edit
        user = self.scope["user"]
        self._person = {
            "name": user.get_full_name() or user.get_username(),
            "color": person_colour(user.pk),
        }
        await self.follow(
            document_topic(document_id), catch_up=_document_catch_up, prepare=_frame_once
        )
        if not self.access.can_edit:
            await self._notice("read_only", READ_ONLY)
        await pending_updates().flush()  # the state read next holds every change published
        state = await database_sync_to_async(document_state_get)(document_id=document_id)
        await self.send(bytes_data=protocol.sync_step1(get_state(state)))
        await self._publish(events.PresenceAsked(sender=self._sender))
        for write in await database_sync_to_async(write_list_active)(document_id=document_id):
            await self.send(text_data=json.dumps({"type": "write", **write}))
        if fanout().away:
            await self.realtime_away({})

    async def realtime_away(self, event: Event) -> None:
        """Redis is away: this editor's changes are kept, but the others' cannot arrive."""
        await self._notice("away", OTHERS_AWAY)

    async def realtime_back(self, event: Event) -> None:
        """Redis is back, and the editor was sent the whole state (``document.resync``)."""
        await self._notice("back", "")

    async def document_resync(self, event: Event) -> None:
        for frame in event["frames"]:
            await self.send(bytes_data=frame)

    async def document_update(self, event: Event) -> None:
        if event["sender"] != self._sender:
            await self.send(bytes_data=event["frame"])

    document_presence = document_update

    async def document_presence_query(self, event: Event) -> None:
        if event["sender"] != self._sender:
            await self.send(bytes_data=protocol.QUERY_AWARENESS)

    async def document_write(self, event: Event) -> None:
        await self.send(text_data=json.dumps({"type": "write", **event["write"]}))

    async def document_renamed(self, event: Event) -> None:
        await self.send(text_data=json.dumps({"type": "renamed", "title": event["title"]}))

    async def document_deleted(self, event: Event) -> None:
        await self._notice("deleted", DELETED.format(by=event["by"]))
        await self.close_with(CLOSE_NOT_FOUND)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """One y-websocket message. Every bad one gets a notice and the socket stays open,
        unless the sender's access has ended."""
        if not hasattr(self, "_sender"):
            return
        if bytes_data is None:
            await self._notice("error", "The document socket takes only binary y-websocket frames.")
            return
        try:
            replies = await self._dispatch(bytes_data)
        except _AccessEnded as ended:
            if ended.deleted_by is not None:
                await self._notice("deleted", DELETED.format(by=ended.deleted_by))
            await self.close_with(ended.code)
            return
        except ValidationError as exc:
            await self._notice("error", " ".join(exc.messages))
            if exc.code in CHANGE_REFUSED_CODES:
                # The editor's later changes build on this one: none could be kept. It ends,
                # with the reason, keeping the text for the person to copy; what it sent
                # before is in the log by then, so a reload shows it.
                await pending_updates().flush()
                await self.close_with(CLOSE_CHANGE_REFUSED)
            return
        except (protocol.ProtocolError, MalformedUpdate) as exc:
            await self._notice("error", str(exc))
            return
        except Exception:
            logger.exception("Could not handle a frame for document %s", self.access.document.pk)
            await self._notice("error", "That change could not be saved; it will be sent again.")
            return
        for reply in replies:
            await self.send(bytes_data=reply)

    async def _refusal_tell(self) -> None:
        if self._refusal_due:
            self._refusal_due, self._refusal_told = False, True
            await self._notice("error", REFUSED)

    async def _dispatch(self, frame: bytes) -> list[bytes]:
        """Act on one frame; the frames to send back."""
        if len(frame) > settings.DOCUMENT_UPDATE_MAX_BYTES + 16:  # room for the framing
            raise ValidationError(update_too_large_message(len(frame)), "too_large")
        message = protocol.message_read(frame)
        if message.kind in (protocol.Kind.SYNC_STEP2, protocol.Kind.SYNC_UPDATE):
            await self._update_take(message.payload)
            return []
        if message.kind == protocol.Kind.AWARENESS:
            entries = await database_sync_to_async(self._presence_read)(message.payload)
            if presence := await self._presence_own(entries):
                await self._publish(events.PresenceSaid(presence=presence, sender=self._sender))
            return []
        if message.kind == protocol.Kind.SYNC_STEP1:
            await pending_updates().flush()  # the answer holds every change published
        return list(await database_sync_to_async(self._handle)(message))

    async def _update_take(self, update: bytes) -> None:
        """An editor's change: checked, then published at once, then kept in the log."""
        if update == EMPTY_UPDATE:
            return  # an editor that lacks nothing says so; viewers' editors too
        document_id = self.access.document.pk
        pending = pending_updates()
        if not await database_sync_to_async(self._update_allowed)(
            update, pending.pending_bytes(document_id)
        ):
            await self._refusal_tell()
            return
        await self._publish(events.Updated(update=update, sender=self._sender))
        pending.add(document_id, update, self._user_id)

    def _update_allowed(self, update: bytes, pending_bytes: int) -> bool:
        """Whether the change may be kept, in a database thread: the sender still has access
        and may edit, and the change is well-formed and fits (else ValidationError)."""
        self._access_check()
        if not self.access.can_edit:
            self._refusal_due = not self._refusal_told
            return False
        document_update_check(
            document_id=self.access.document.pk, update=update, pending_bytes=pending_bytes
        )
        return True

    def _access_check(self) -> None:
        if refused := self.access_denied():
            raise _AccessEnded(refused, deleted_by=document_deleted_by(self.access.document.pk))

    def _handle(self, message: protocol.Incoming) -> list[bytes]:
        """Act on a sync step 1, in a database thread; the frames to send back."""
        self._access_check()
        if message.kind == protocol.Kind.SYNC_STEP1:
            return self._resync_answer(message.payload)
        # QUERY_AWARENESS needs no answer: every editor says who it is when another joins.
        return []

    def _resync_answer(self, state_vector: bytes) -> list[bytes]:
        state = document_state_get(document_id=self.access.document.pk)
        missing = update_missing(state, state_vector)
        return [protocol.sync_step2(missing), protocol.sync_step1(get_state(state))]

    def _presence_read(self, update: bytes) -> list[protocol.Presence]:
        """An awareness update's entries (in a database thread, after the access check)."""
        self._access_check()
        if len(update) > settings.DOCUMENT_PRESENCE_MAX_BYTES:
            raise protocol.ProtocolError("That presence update is too large.")
        return protocol.awareness_read(update)

    async def _presence_own(self, entries: list[protocol.Presence]) -> bytes | None:
        """The sender's presence, re-stamped for the others; None when the frame holds nothing
        of the client this socket speaks for. Entries of other clients are editors' echoes of
        what they were sent: dropped. The first client a socket names is claimed for it; one
        that another person's socket holds is refused with a notice, and the frame dropped."""
        if not entries:
            return None
        client_id = self._client.client_id
        if client_id is None:
            client_id = entries[0].client_id
        try:
            speaks = await self._client.speaks_for(client_id)
        except RedisError:  # presence is a courtesy: the document works without it
            logger.warning("Could not claim a Yjs client of document %s", self.access.document.pk)
            return None
        if not speaks:
            if client_id not in self._clients_refused:
                self._clients_refused.add(client_id)
                await self._notice("error", PRESENCE_REFUSED)
            return None
        own = protocol.presence_restamp(entries, client_id=client_id, user=self._person)
        if not own:
            return None
        self._presence_clock = max(entry.clock for entry in own)
        return protocol.awareness_write(own)

    async def disconnect(self, code: int) -> None:
        """Others see this editor leave at once, not when its presence times out (30 s); its
        last changes reach the log now rather than with the next batch. Only a client the
        socket still held is announced gone."""
        await pending_updates().flush()
        if (client_id := await self._client_let_go()) is not None:
            gone = protocol.Presence(client_id, self._presence_clock + 1, None)
            presence = protocol.awareness_write([gone])
            await self._publish(events.PresenceSaid(presence=presence, sender=self._sender))
        await super().disconnect(code)

    async def _client_let_go(self) -> int | None:
        """The Yjs client this socket held until now, if any."""
        if not hasattr(self, "_client"):
            return None  # closed before it joined
        try:
            return await self._client.let_go()
        except RedisError:  # the claim expires by itself
            logger.warning("Could not free a Yjs client of document %s", self.access.document.pk)
            return None

    async def _publish(self, event: EventModel) -> None:
        """An event of this socket's to the document's other editors, from daphne's loop,
        at once: an editor's keystroke reaches the others before the log keeps it."""
        await publish_async(document_topic(self.access.document.pk), event)

    async def _notice(self, kind: str, message: str) -> None:
        await self.send(text_data=json.dumps({"type": kind, "message": message}))
