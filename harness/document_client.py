"""An editor without a browser: a pycrdt document kept in sync over the document socket.

It speaks y-websocket as the browser's provider does (``documents.protocol``), so the tests
and the benchmark drive the real server with real Yjs updates.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import websockets
from channels.db import database_sync_to_async
from pycrdt import Doc, Text, TransactionEvent

from documents import protocol
from documents.crdt import TEXT_NAME

from .live_stack import WebStack
from .ws_client import session_cookie


def text_insert(text: Text, index: int, value: str) -> None:
    """Insert at a character index (pycrdt counts UTF-8 bytes)."""
    text.insert(len(str(text)[:index].encode()), value)


class DocumentPeer:
    """One editor: its own Yjs document, its socket, and what the server told it."""

    def __init__(self, socket: websockets.ClientConnection, doc: Doc | None = None) -> None:
        self.socket = socket
        self.doc: Doc = doc if doc is not None else Doc()
        self.text = self.doc.get(TEXT_NAME, type=Text)
        self.notices: list[dict[str, Any]] = []
        self.presence: dict[int, dict[str, Any] | None] = {}
        self.synced = False  # a STEP2 arrived: the editor has the server's state
        self._unsent: list[bytes] = []
        self._applying = False
        self.doc.observe(self._local_change)

    def _local_change(self, event: TransactionEvent) -> None:
        if not self._applying:
            self._unsent.append(event.update)

    @property
    def content(self) -> str:
        return str(self.text)

    async def start(self) -> None:
        """Say what this editor has, as the provider does when its socket opens."""
        await self.socket.send(protocol.sync_step1(self.doc.get_state()))

    async def resync(self) -> None:
        """Say it again, as the provider does every few seconds, and wait for the answer: the
        server handles a socket's frames in order, so all sent before is stored by then."""
        self.synced = False
        await self.start()
        await self.receive_until(lambda: self.synced)

    def insert(self, index: int, value: str) -> None:
        """Type ``value`` at character ``index`` (locally: ``send`` sends it)."""
        text_insert(self.text, index, value)

    async def send(self) -> None:
        """Send every local change not sent yet, one update message each."""
        while self._unsent:
            await self.socket.send(protocol.sync_update(self._unsent.pop(0)))

    async def say_present(self, state: dict[str, Any]) -> None:
        entry = protocol.Presence(self.doc.client_id, 1, state)
        await self.socket.send(protocol.awareness(protocol.awareness_write([entry])))

    async def receive_until(self, done: Callable[[], bool], timeout: float = 10) -> None:
        """Handle the server's frames until ``done()``; TimeoutError if it does not come."""
        async with asyncio.timeout(timeout):
            while not done():
                await self.handle(await self.socket.recv())

    async def handle(self, frame: str | bytes) -> None:
        if isinstance(frame, str):
            self.notices.append(json.loads(frame))
            return
        message = protocol.message_read(frame)
        if message.kind == protocol.Kind.SYNC_STEP1:
            await self.socket.send(protocol.sync_step2(self.doc.get_update(message.payload)))
        elif message.kind in (protocol.Kind.SYNC_STEP2, protocol.Kind.SYNC_UPDATE):
            self._applying = True
            try:
                self.doc.apply_update(message.payload)
            finally:
                self._applying = False
            self.synced = self.synced or message.kind == protocol.Kind.SYNC_STEP2
        elif message.kind == protocol.Kind.AWARENESS:
            for entry in protocol.awareness_read(message.payload):
                self.presence[entry.client_id] = entry.state


@asynccontextmanager
async def document_peer(
    stack: WebStack,
    document_id: int,
    user: object,
    *,
    cookie: str | None = None,
    doc: Doc | None = None,
) -> AsyncIterator[DocumentPeer]:
    """A member's editor on the document, connected and synced with the server; with ``doc``,
    an editor that comes back with what it kept (and changed) while offline."""
    cookie = cookie or await database_sync_to_async(session_cookie)(user)
    async with websockets.connect(
        f"{stack.ws_url}/ws/documents/{document_id}/",
        additional_headers={"Cookie": cookie, "Origin": stack.http_url},
        max_size=None,
        close_timeout=1,
    ) as socket:
        peer = DocumentPeer(socket, doc)
        await peer.start()
        await peer.receive_until(lambda: peer.synced)
        yield peer
