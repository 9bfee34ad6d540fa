"""Memory tuning for the long-running processes that handle feed bodies: the C heap (glibc only; elsewhere
a no-op) and the cyclic garbage collector."""

from __future__ import annotations

import gc
import sys

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter numbers (malloc.h)
LARGE_BLOCK = 64 * 1024
# A poll keeps thousands of objects alive at a time (a batch of items waiting for its commit) while far
# more come and go around them, so at CPython's 700 the youngest generation was collected ~700 times in a
# 1,000-feed first poll, and the next one ~60 times: 0.37 s of the main process's CPU, walking live objects
# only to promote them. At 20,000 the count of objects made and not yet freed reached it 4 times.
YOUNG_GENERATION_THRESHOLD = 20_000


def collect_cycles_less_often(threshold: int = YOUNG_GENERATION_THRESHOLD) -> None:
    """Run the cyclic collector after ``threshold`` more container objects were made than freed, not 700;
    the older generations keep their ratios. Objects freed by reference counting are unaffected."""
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(threshold, middle, oldest)


def map_large_blocks(threshold: int = LARGE_BLOCK) -> bool:
    """Have the C allocator give every block of ``threshold`` bytes or more its own mapping, returned to
    the system when freed; False where that cannot be set (no glibc)."""
    # glibc starts at 128 KiB but raises its threshold to the size of each mapped block freed, up to 32 MiB.
    # After the first feed body (~140 KB) has been freed, every later body, read buffer and pickled result
    # comes from the heap instead, between long-lived objects (the story index grows all the time), and
    # the heap keeps its high-water mark: 21 MB of the main process's 164 MB peak polling 10,000 feeds.
    # Setting the threshold turns that adjustment off.
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes  # some minimal builds of Python have no ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (ImportError, OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold))
