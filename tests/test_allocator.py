"""Worker processes give a large freed block back to the system (``config.allocator``)."""

import platform
import subprocess
import sys

import pytest
from django.conf import settings

pytestmark = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="glibc's allocator: elsewhere nothing is changed"
)

MIB = 1024 * 1024
# In a process of its own (glibc's threshold moves once per process): a block of 8 MiB freed,
# then one of 6 MiB written and freed; prints how much of it the process still holds.
PROBE = """
import ctypes, os, sys
from config.allocator import large_blocks_unmapped_when_freed
if sys.argv[1] == "fixed":
    large_blocks_unmapped_when_freed()
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
def resident():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
def written(size):
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    return block
libc.free(written(8 << 20))
before = resident()
libc.free(written(6 << 20))
print(resident() - before)
"""


def _held_after_free(mode: str) -> int:
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(probe.stdout)


def test_a_large_block_freed_is_given_back_once_the_threshold_is_fixed():
    assert _held_after_free("glibc's own") >= 4 * MIB  # what the fixed threshold undoes
    assert _held_after_free("fixed") < MIB
