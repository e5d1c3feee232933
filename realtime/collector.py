"""The memory of sockets that closed is given back soon, not at daphne's next full collection.

Twisted's objects for a connection (its protocol, transport, request, buffers) refer to one
another, so once the connection has closed only the cyclic garbage collector frees them, and
daphne runs it rarely (``config/asgi.py``): the soak's waves of visitors who had left stayed in
memory for minutes, the next wave took new memory beside them, and each daphne grew by about
2 MiB a wave (``bench/README.md``). So sockets closing are followed by a full collection,
COLLECT_AFTER_CLOSE_S after the first of them and at most one in that time: one pause for
every socket that closed meanwhile (10 ms with none open, about 50 ms with 100 open, in the
soak), rare enough to stay out of the frames' p99 where sockets come and go all day.
"""

import asyncio
import gc

from .loops import PerLoop

COLLECT_AFTER_CLOSE_S = 30.0


class ClosedSocketsCollector:
    """Schedules this loop's collection after sockets close."""

    def __init__(self) -> None:
        self._scheduled: asyncio.TimerHandle | None = None

    def socket_closed(self) -> None:
        if self._scheduled is None:
            self._scheduled = asyncio.get_running_loop().call_later(
                COLLECT_AFTER_CLOSE_S, self._collect
            )

    def _collect(self) -> None:
        self._scheduled = None
        gc.collect()


closed_sockets_collector = PerLoop(ClosedSocketsCollector)
