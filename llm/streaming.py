"""Pacing a stream of tokens into frames, and frames into database writes.

The first piece goes out at once (time to first token is what people feel); after that, pieces
are coalesced so that frames leave at most every ``frame_interval`` seconds, and a frame is
marked for saving at most every ``persist_interval`` seconds. Whatever is pending when the
stream ends is handed back by ``finish`` for the final write.
"""

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connections

logger = logging.getLogger(__name__)


@dataclass
class FramePacer:
    sink: Callable[..., None]
    frame_interval: float
    persist_interval: float
    clock: Callable[[], float] = time.monotonic
    text: str = ""
    seq: int = 0
    first_piece_at: float | None = None
    _pending: str = ""
    _last_frame_at: float = field(default=float("-inf"))
    _last_persist_at: float | None = None

    def add(self, piece: str) -> None:
        now = self.clock()
        if self.first_piece_at is None:
            self.first_piece_at = now
            self._last_persist_at = now  # the first save waits a full interval
        self.text += piece
        self._pending += piece
        if now - self._last_frame_at >= self.frame_interval:
            self._flush(now)

    def finish(self) -> None:
        """Send what is still pending, without saving: the caller's final write saves it."""
        if self._pending:
            self._send(self.clock(), persist=False)

    def _flush(self, now: float) -> None:
        assert self._last_persist_at is not None
        persist = now - self._last_persist_at >= self.persist_interval
        if persist:
            self._last_persist_at = now
        self._send(now, persist=persist)

    def _send(self, now: float, *, persist: bool) -> None:
        self.seq += 1
        delta, self._pending = self._pending, ""
        self._last_frame_at = now
        self.sink(seq=self.seq, delta=delta, text=self.text, persist=persist)


@dataclass
class ThrottledPoll:
    """Ask ``check`` at most every ``interval`` seconds, and keep its first non-empty answer.

    Used between tokens to notice a member's stop request without a cache round trip per token.
    """

    check: Callable[[], str | None]
    interval: float
    clock: Callable[[], float] = time.monotonic
    answer: str | None = None
    _next_at: float = field(default=float("-inf"))

    def __call__(self) -> str | None:
        now = self.clock()
        if self.answer is None and now >= self._next_at:
            self._next_at = now + self.interval
            self.answer = self.check()
        return self.answer


class BackgroundCalls:
    """Runs calls on a thread of its own, one at a time and in the order they were submitted.

    The model's loop hands each frame's sending (rendering, the cache write, the broadcast: about
    a millisecond, mostly waiting on Redis) to this thread and goes straight back to decoding.
    Where the model leaves a core free (a GPU worker, or fewer model threads than cores), that
    work then overlaps decoding instead of adding to it (bench/README.md). ``close`` waits for
    every call.
    """

    def __init__(self, *, name: str) -> None:
        self._calls: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, call: Callable[[], None]) -> None:
        self._calls.put(call)

    def close(self) -> None:
        if self._thread.is_alive():
            self._calls.put(None)
            self._thread.join()

    def _run(self) -> None:
        try:
            while (call := self._calls.get()) is not None:
                try:
                    call()
                except Exception:  # a lost frame is caught up from the cache and the end
                    logger.exception("A background call failed")
        finally:
            connections.close_all()  # this thread's (a document write's frames use one)
