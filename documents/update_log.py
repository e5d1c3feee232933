"""Editors' changes on their way into the log, written in batches off the socket's path.

A socket publishes an editor's change to the other editors as soon as it is checked, then
leaves it here; each web process appends its changes on a thread of its own, everything that
arrived while the previous append was committing in one transaction. Committing each keystroke
before publishing it made twenty editors wait on the database's write lock (and SQLite's
fsync) before anyone saw their typing (bench/README.md). Nothing is lost by publishing first:
CRDT changes can be applied in any order and any number of times, and an editor holds its
changes until the server's state vector shows them, so whatever the log misses comes back at
the editor's next resync.
"""

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async

from realtime.loops import PerLoop

from .services import KeptUpdate, document_updates_keep

logger = logging.getLogger(__name__)

# One thread, so one database connection, for the process's appends.
_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="document-log")


class PendingUpdates:
    """This event loop's changes that are published but not yet in the log."""

    def __init__(self) -> None:
        self._pending: list[KeptUpdate] = []
        self._writer: asyncio.Task[None] | None = None  # held: the loop keeps tasks weakly
        self._writing = asyncio.Lock()  # batches reach the log in the order they were taken

    def add(self, document_id: int, update: bytes, author_id: int | None) -> None:
        self._pending.append((document_id, update, author_id))
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write_all())

    def pending_bytes(self, document_id: int) -> int:
        return sum(len(data) for doc, data, _ in self._pending if doc == document_id)

    async def _write_all(self) -> None:
        try:
            while self._pending:
                await self.flush()
        finally:
            self._writer = None

    async def flush(self) -> None:
        """Append everything pending now (before reading a document's state, say)."""
        async with self._writing:
            batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                keep = sync_to_async(
                    document_updates_keep, thread_sensitive=False, executor=_writer
                )
                await keep(batch)
            except Exception:
                logger.exception("Could not keep %s changes; editors resend them", len(batch))


pending_updates = PerLoop(PendingUpdates)
