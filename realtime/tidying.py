"""What sockets that closed leave behind is given back soon, not at daphne's leisure.

Twisted's objects for a connection (its protocol, transport, request, buffers) refer to one
another, so once the connection has closed only the cyclic garbage collector frees them, and
daphne runs it rarely (``config/asgi.py``): the soak's waves of visitors who had left stayed in
memory for minutes, the next wave took new memory beside them, and each daphne grew by about
2 MiB a wave (``bench/README.md``). So sockets closing are followed by a full collection,
TIDY_AFTER_CLOSE_S after the first of them and at most one in that time: one pause for every
socket that closed meanwhile (10 ms with none open, about 50 ms with 100 open, in the soak),
rare enough to stay out of the frames' p99 where sockets come and go all day.

Then, if no socket is left, the Redis connections that presence and claims hold idle are
closed too: their pools keep as many as the busiest moment needed (``realtime.loops``), and a
process nobody is connected to needs none.
"""

import asyncio
import gc
import logging

from .fanout import fanout
from .loops import PerLoop, loop_redis_idle_disconnect

logger = logging.getLogger(__name__)

TIDY_AFTER_CLOSE_S = 30.0


class ClosedSocketsTidier:
    """Tidies this loop up after sockets close."""

    def __init__(self) -> None:
        self._tidying: asyncio.Task[None] | None = None

    def socket_closed(self) -> None:
        if self._tidying is None:
            self._tidying = asyncio.get_running_loop().create_task(self._tidy())

    async def _tidy(self) -> None:
        await asyncio.sleep(TIDY_AFTER_CLOSE_S)
        self._tidying = None  # a socket closing from now on is tidied after by the next one
        gc.collect()
        if not fanout().following:
            try:
                await loop_redis_idle_disconnect()
            except Exception:  # Redis away: its connections are gone already
                logger.warning("Could not close the idle Redis connections", exc_info=True)


closed_sockets_tidier = PerLoop(ClosedSocketsTidier)
