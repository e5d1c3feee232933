"""Large blocks of the C allocator go back to the system when freed, in a worker process.

glibc serves a block above its mmap threshold (128 KiB) from a mapping of its own, unmapped
when freed, but raises the threshold to the size of each such block freed, up to 32 MiB. A
model worker copies llama.cpp's state of each prompt it keeps (``llm.kept_states``), several
MiB and a little larger as a thread grows: once the first copy was freed, every later one came
from the heap instead, whose holes the next, larger copy could not reuse, and the worker grew
by several MiB an answer for good (the soak, ``bench/README.md``). Setting the threshold
explicitly keeps it where it is.
"""

import ctypes
import logging

logger = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # mallopt's parameter, from glibc's malloc.h
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's own starting value, now kept


def large_blocks_unmapped_when_freed() -> None:
    """Fix glibc's mmap threshold; elsewhere (macOS, musl) there is nothing to do."""
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return
    if not mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES):
        logger.warning("The C allocator refused a fixed mmap threshold: memory may grow")
